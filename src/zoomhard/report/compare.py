"""The study's Table 1 for a set of runs: 1 crop / 36 crops / all transforms, per run, with the
study's own figures beside on request (resources/zoom_upper_bounds.csv), for the study's exact
networks only (zoomhard.paper) and in the dataset column the run's data and subset match."""

from __future__ import annotations

import csv
import io
from functools import lru_cache
from importlib import resources

import numpy as np

from .. import analysis as A
from ..analysis import TOP_K
from ..grid import ZoomGrid
from ..models.base import IMAGENET_MEAN
from ..paper import note_of_run, study_model_of_run
from ..spec import ModelSpec
from ..stats import mcnemar, paired
from ..runs import tables
from ..runs.store import RunStore
from .datasets import PAPER_DATASETS, paper_dataset
from .load import summary
from .presenters import COLUMNS

@lru_cache(maxsize=None)
def paper_table() -> list[dict]:
    """Rows of the study's Table 1: model, crops, and one accuracy in [0, 1] per dataset."""
    text = resources.files("zoomhard.resources").joinpath("zoom_upper_bounds.csv").read_text()
    lines = [l for l in text.splitlines() if l and not l.startswith("#")]
    rows = []
    for r in csv.DictReader(io.StringIO("\n".join(lines))):
        rows.append({"model": r["model"], "crops": int(r["crops"]),
                     **{d: round(float(r[d]) / 100, 6) for d in PAPER_DATASETS}})
    return rows


def paper_side(config: dict) -> tuple[str | None, str]:
    """(the study's Table 1 model behind a run, or None; a note on what differs from the study)."""
    twin = study_model_of_run(config, "zoom")
    note = note_of_run(config, "zoom")
    if twin is not None and ModelSpec.parse(config.get("model", "")).source == "open_clip":
        mean = ((config.get("classifier") or {}).get("preprocess") or {}).get("mean")
        if mean is not None and tuple(mean) != tuple(IMAGENET_MEAN):
            note = "the run used CLIP's own mean/std; the study ImageNet's (--protocol study)"
    return (twin.paper_model if twin else None), note


def paper_figures(model: str | None, dataset: str | None) -> dict | None:
    if model is None or dataset is None:
        return None
    rows = {r["crops"]: r[dataset] for r in paper_table() if r["model"] == model}
    return {"model": model, "dataset": dataset, "crop1": rows.get(1), f"crop{TOP_K}": rows.get(TOP_K),
            "crop324": rows.get(324)} if rows else None


def _data_name(data: dict | None) -> str:
    if not data:
        return "?"
    return str(data.get("spec") or data.get("kind") or "?")


def compare_rows(runs: list[str], paper: bool = False, dataset: str | None = None) -> list[dict]:
    """One row per run (analysis.json when fresh, else computed in memory)."""
    rows = []
    for path in runs:
        a = summary(path)
        row = {"run": str(path), "model": a.model, "data": _data_name(a.data), "images": a.n_images,
               "transforms": a.n_transforms, **{c.key: c.value(a) for c in COLUMNS}, "partial": a.partial,
               "confidence": a.confidence}
        if paper:
            config = RunStore(path).read_config()
            name, note = paper_side(config)
            row["paper"] = paper_figures(name, dataset or paper_dataset(config, path))
            row.update(paper_model=name, paper_note=note)
        rows.append(row)
    for row, test in zip(rows[1:], paired_tests(runs)):
        row["paired"] = test
    return rows


def _solved(path: str) -> tuple[list[str], np.ndarray | None, np.ndarray]:
    """A run's image ids, per image the standard crop's correctness (None where some image
    lacks it) and whether any transform is right."""
    store = RunStore(path)
    grid = ZoomGrid.from_dict(store.read_config()["grid"])
    c = tables.correctness(store.predictions(columns=["image_id", "scale", "row", "col", "correct"]), grid)
    std = c.column(grid.standard) if A.standard_evaluated(c, grid) else None
    return c.image_ids, std, c.matrix.any(axis=1)


def paired_tests(runs: list[str]) -> list[dict | None]:
    """Each run after the first against the first, when both hold the same images: the exact
    McNemar test (stats.mcnemar) of the standard crop and of the upper bound; None otherwise."""
    if len(runs) < 2:
        return []
    ids, std, solved = _solved(runs[0])
    where = {k: i for i, k in enumerate(ids)}
    out = []
    for path in runs[1:]:
        other_ids, other_std, other_solved = _solved(path)
        if len(other_ids) != len(ids) or set(other_ids) != set(where):
            out.append(None)
            continue
        order = np.array([where[k] for k in other_ids])
        out.append({"against": str(runs[0]), "crop1": None if std is None or other_std is None
                    else mcnemar(std[order], other_std),
                    "crop_all": mcnemar(solved[order], other_solved)})
    return out


def _pct(v) -> str:
    return "-" if v is None else f"{v * 100:.2f}"


def format_table(rows: list[dict], paper: bool = False) -> str:
    """A plain-text Table 1; with `paper`, the study's figures for the same model beside each
    run and the study's whole table below."""
    shown = [c for c in COLUMNS if c.compare_head]
    head = ["run", "model", "data", "images", *(c.compare_head for c in shown)]
    if paper:
        head += ["paper", "1-crop", f"{TOP_K}-crop", "324-crop"]
    body = []
    for r in rows:
        line = [r["run"], str(r["model"]), r["data"], str(r["images"])]
        line += [(_pct(r[c.key]) if c.percent else str(r[c.key])) + (f" ({r['transforms']})" if c.of_transforms else "")
                 for c in shown]
        if paper:
            p = r.get("paper")
            line += ([f"{p['model']} {p['dataset']}", _pct(p["crop1"]), _pct(p[f"crop{TOP_K}"]), _pct(p["crop324"])]
                     if p else ["(not the study's network)", "-", "-", "-"])
        body.append(line)
    out = [_align([head] + body), "top-1 accuracy in %; all-crop = upper bound over the run's n transforms; "
           "chance = the upper bound the same predictions reach against another image's labels"]
    if paper:
        out += [f"{r['run']}: {r['paper_note']}" for r in rows if r.get("paper_note")]
    if len({r["images"] for r in rows}) > 1 or len({r["data"] for r in rows}) > 1:
        out.append("note: the runs do not hold the same data, so their rows are not directly comparable")
    tests = [r for r in rows if r.get("paired")]
    if tests:
        out.append(f"paired with {tests[0]['paired']['against']} on the same images (exact McNemar; +images this "
                   "run gets right and that one wrong / -the reverse):")
        for r in tests:
            t = r["paired"]
            out.append(f"  {r['run']}: 1-crop {paired(t['crop1']) or '-'}, all-crop {paired(t['crop_all'])}")
    partial = [r["run"] for r in rows if r["partial"]]
    if partial:
        out.append(f"partial run (--until-correct): {', '.join(partial)}: only the upper bound and the standard "
                   f"crop (when evaluated) are exact; no {TOP_K}-crop figure")
    if paper:
        out += ["", "The study's Table 1 (top-1 %):",
                _align([["model", "crops", *PAPER_DATASETS]] +
                       [[p["model"], str(p["crops"]), *(_pct(p[d]) for d in PAPER_DATASETS)] for p in paper_table()], left=1)]
    return "\n".join(out)


def _align(table: list[list[str]], left: int = 3) -> str:
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = []
    for n, row in enumerate(table):
        lines.append("  ".join(cell.ljust(w) if i < left else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
