"""The study's Table 1 for a set of runs: 1 crop / 36 crops / all transforms, per run, with the
study's own figures beside on request (resources/zoom_upper_bounds.csv), for the study's exact
networks only (zoomhard.paper) and in the dataset column the run's data and subset match."""

from __future__ import annotations

import csv
import io
from functools import lru_cache
from importlib import resources

from .. import labels as L
from ..models.base import IMAGENET_MEAN
from ..paper import note_of_run, study_model_of_run
from ..store import RunStore
from .run import TOP_K, summary

# The study's dataset columns, and the class subset that marks a run as one of them.
PAPER_DATASETS = ("IN", "ReaL", "IN+ReaL", "IN-A", "IN-R", "IN-S", "ON")
_SUBSET_DATASET = {"imagenet-a": "IN-A", "imagenet-r": "IN-R", "objectnet": "ON", "objectnet-groups": "ON"}
_REAL_DATASET = {"real": "ReaL", "original+real": "IN+ReaL"}


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


def paper_dataset(config: dict, path: str | None = None) -> str:
    """The study's dataset column a run matches: by its class subset (a folder run under `auto`
    by the classes its images' labels fall in), its ReaL mode, or a sketch data name; else IN."""
    subset = (config.get("subset") or {}).get("name")
    if subset in _SUBSET_DATASET:
        return _SUBSET_DATASET[subset]
    data = config.get("data") or {}
    if subset == "folders-present" and path is not None:
        present = {i for labels in RunStore(path).images().column("labels").to_pylist() for i in labels}
        for name in ("imagenet-a", "imagenet-r"):
            if present and present <= set(L.subset_indices(name)):
                return _SUBSET_DATASET[name]
    if data.get("real_mode") in _REAL_DATASET:
        return _REAL_DATASET[data["real_mode"]]
    if "sketch" in str(data.get("spec", "")).lower():
        return "IN-S"
    return "IN"


def paper_side(config: dict) -> tuple[str | None, str]:
    """(the study's Table 1 model behind a run, or None; a note on what differs from the study)."""
    twin = study_model_of_run(config, "zoom")
    note = note_of_run(config, "zoom")
    if twin is not None and config.get("model", "").startswith("open_clip:"):
        mean = ((config.get("classifier") or {}).get("preprocess") or {}).get("mean")
        if mean is not None and tuple(mean) != tuple(IMAGENET_MEAN):
            note = "the run used CLIP's own mean/std; the study ImageNet's (--protocol study)"
    return (twin.paper_model if twin else None), note


def paper_figures(model: str | None, dataset: str) -> dict | None:
    if model is None:
        return None
    rows = {r["crops"]: r[dataset] for r in paper_table() if r["model"] == model}
    return {"model": model, "dataset": dataset, "crop1": rows.get(1), "crop36": rows.get(36),
            "crop324": rows.get(324)} if rows else None


def _data_name(data: dict | None) -> str:
    if not data:
        return "?"
    return str(data.get("spec") or data.get("kind") or "?")


def compare_rows(runs: list[str], paper: bool = False, dataset: str | None = None) -> list[dict]:
    """One row per run (analysis.json when fresh, else computed in memory)."""
    rows = []
    for path in runs:
        r = summary(path)
        row = {"run": str(path), "model": r.get("model"), "data": _data_name(r.get("data")),
               "images": r["n_images"], "transforms": r["n_transforms"],
               "crop1": r["standard_top1"], f"crop{TOP_K}": r[f"top{TOP_K}_upper_bound"],
               "crop_all": r["upper_bound"], "min_cover": None if r["min_cover"] is None else len(r["min_cover"]),
               "partial": r["partial"]}
        if paper:
            config = RunStore(path).read_config()
            name, note = paper_side(config)
            row["paper"] = paper_figures(name, dataset or paper_dataset(config, path))
            row.update(paper_model=name, paper_note=note)
        rows.append(row)
    return rows


def _pct(v) -> str:
    return "-" if v is None else f"{v * 100:.2f}"


def format_table(rows: list[dict], paper: bool = False) -> str:
    """A plain-text Table 1; with `paper`, the study's figures for the same model beside each
    run and the study's whole table below."""
    head = ["run", "model", "data", "images", "1-crop", f"{TOP_K}-crop", "all-crop (n)"]
    if paper:
        head += ["paper", "1-crop", f"{TOP_K}-crop", "324-crop"]
    body = []
    for r in rows:
        line = [r["run"], str(r["model"]), r["data"], str(r["images"]), _pct(r["crop1"]),
                _pct(r[f"crop{TOP_K}"]), f"{_pct(r['crop_all'])} ({r['transforms']})"]
        if paper:
            p = r.get("paper")
            line += ([f"{p['model']} {p['dataset']}", _pct(p["crop1"]), _pct(p["crop36"]), _pct(p["crop324"])]
                     if p else ["(not the study's network)", "-", "-", "-"])
        body.append(line)
    out = [_align([head] + body), "top-1 accuracy in %; all-crop = upper bound over the run's n transforms"]
    if paper:
        out += [f"{r['run']}: {r['paper_note']}" for r in rows if r.get("paper_note")]
    if len({r["images"] for r in rows}) > 1 or len({r["data"] for r in rows}) > 1:
        out.append("note: the runs do not hold the same data, so their rows are not directly comparable")
    partial = [r["run"] for r in rows if r["partial"]]
    if partial:
        out.append(f"partial run (--until-correct): {', '.join(partial)}: only the upper bound and the standard "
                   "crop (when evaluated) are exact; no 36-crop figure")
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
