"""The study's tables, each row read from one cell's own folder, the paper's figures beside.

    OUT/tables/zoom.csv          the study's Table 1: standard crop, 36-crop cover, upper bound (its
                                 chance level and 95 % interval beside)
    OUT/tables/disentangle.csv   zoom-in / zoom-out / 224-only over the cover (disentangling.ipynb)
    OUT/tables/bench.csv         single-crop top-1 / top-5 (ImageNet-Hard: the paper's figure)
    OUT/tables/bench_origins.csv the same per origin (source benchmark or class folder)
    OUT/tables/tta.csv           each TTA method against the standard crop (MEMO's table)

Every accuracy is a fraction in [0, 1]; `diff_*` = this study's figure minus the paper's. Each
table is also written as Markdown (same figures, 4 decimals).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

from ..analysis import TOP_K, Analysis, top_k_keys
from ..report.datasets import PAPER_DATASETS
from ..runs.files import write_csv
from .cells import RESULT
from .studyfile import Study

# the columns of zoom.csv (analysis.json's names) and each one's value in a run's Analysis
ZOOM_FIGURES = ("standard_top1", top_k_keys()[0], "upper_bound")
_ZOOM_VALUES = dict(zip(ZOOM_FIGURES, (lambda a: a.standard_top1, lambda a: a.top_k_upper_bound, lambda a: a.upper_bound)))
# the paper's Table 1 figures beside them (report.compare.paper_figures)
_PAPER_FIGURES = dict(zip(ZOOM_FIGURES, ("crop1", f"crop{TOP_K}", "crop324")))
# beside them: the upper bound's chance level and 95 % interval (analysis.json's confidence)
ZOOM_CONTROLS = ("chance_upper_bound", "upper_bound_lo", "upper_bound_hi")
ZOOM_COLUMNS = ("model", "spec", "dataset", "images", "transforms", *ZOOM_FIGURES, *ZOOM_CONTROLS,
                "paper_model", "paper_dataset",
                *(f"paper_{f}" for f in ZOOM_FIGURES), *(f"diff_{f}" for f in ZOOM_FIGURES), "experiment", "run")
BENCH_COLUMNS = ("model", "spec", "dataset", "n", "top1", "top5", "paper_model", "paper_top1", "diff_top1",
                 "experiment", "run")
ORIGIN_COLUMNS = ("model", "spec", "dataset", "origin", "n", "top1", "experiment", "run")
TTA_COLUMNS = ("model", "spec", "dataset", "method", "n", "top1", "baseline_top1", "seconds_per_image",
               "paper_model", "paper_dataset", "paper_top1", "paper_baseline_top1", "diff_top1",
               "diff_baseline_top1", "experiment", "run")
# disentangle.csv: each group's upper bound and exclusive share over the run's own greedy cover
# (analysis.json's disentangle_cover), the study's notebook figures beside
DISENTANGLE_GROUPS = ("zoom_in", "zoom_out", "crop_scale")
_DISENTANGLE_FIGURES = (*DISENTANGLE_GROUPS, *(f"exclusive_{g}" for g in DISENTANGLE_GROUPS))
DISENTANGLE_COLUMNS = ("model", "spec", "dataset", *_DISENTANGLE_FIGURES, "paper_model", "paper_dataset",
                       *(f"paper_{f}" for f in _DISENTANGLE_FIGURES), "experiment", "run")
DISENTANGLE_NOTE = ("Upper bounds per group are computed as the study's notebook does, over each network's own "
                    "greedy cover. The exclusive shares are over each network's own cover too; the notebook "
                    "computed every network's with the cover transforms of the last network in its loop "
                    "(disentangling.ipynb, cell 13), so the exclusive columns are not expected to equal the paper's.")
# tta's method names -> the rows of MEMO's table in the study (resources/memo_tta.csv)
PAPER_METHODS = {"memo-augmix": "MEMO+AugMix", "memo-rrc": "MEMO+RRC"}
# the benchmark columns -> zoomhard.paper's tables of top-1 figures
HARD_TABLES = {"ImageNet-Hard": "hard", "ImageNet-Hard-4K": "hard-4k"}


@dataclass
class Tables:
    zoom: list[dict] = field(default_factory=list)
    disentangle: list[dict] = field(default_factory=list)
    bench: list[dict] = field(default_factory=list)
    bench_origins: list[dict] = field(default_factory=list)
    tta: list[dict] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)


def _paper_csv(name: str) -> tuple[list[str], list[dict]]:
    """A packaged paper table: its '#' comment lines and its rows."""
    text = resources.files("zoomhard.resources").joinpath(name).read_text()
    notes = [line.lstrip("# ").rstrip() for line in text.splitlines() if line.startswith("#")]
    rows = list(csv.DictReader(io.StringIO("\n".join(l for l in text.splitlines() if l and not l.startswith("#")))))
    return notes, rows


@lru_cache(maxsize=None)
def paper_tta() -> tuple[list[str], dict[tuple[str, str], dict[str, float]]]:
    """MEMO's table in the study: notes, and (model, method) -> {dataset: top-1 fraction}."""
    notes, rows = _paper_csv("memo_tta.csv")
    table = {(r["model"], r["method"]): {k: float(v) / 100 for k, v in r.items() if k not in ("model", "method")}
             for r in rows}
    return notes, table


@lru_cache(maxsize=None)
def paper_disentangle() -> dict[tuple[str, str], dict[str, float]]:
    """The study notebook's disentangling: (paper model, dataset column) -> figure -> fraction."""
    return {(r["model"], r["dataset"]): {f: round(float(r[f]) / 100, 6) for f in _DISENTANGLE_FIGURES}
            for r in _paper_csv("disentangle_paper.csv")[1]}


def paper_column(dataset: dict, result: Analysis | None = None) -> str | None:
    """The paper's dataset column for a study dataset: its `paper` key, else what its class
    subset says (ImageNet-A, -R, ObjectNet); plain data has none."""
    if dataset.get("paper"):
        return dataset["paper"]
    from ..report.datasets import paper_dataset

    inferred = paper_dataset(result or {"subset": {"name": dataset.get("subset")}})
    return None if inferred == "IN" else inferred


def _diff(ours, paper):
    return None if ours is None or paper is None else ours - paper


def _study_network(config: dict, table: str) -> str | None:
    """The paper's name for the run's network when it is exactly the study's (spec, weights tag)."""
    from ..paper import study_model_of_run

    twin = study_model_of_run(config, table)
    return twin.paper_model if twin else None


def zoom_rows(study: Study, record: dict, out: Path) -> tuple[dict, dict]:
    """A zoom cell's row of zoom.csv and of disentangle.csv."""
    from ..report.compare import paper_figures
    from ..report.load import summary
    from ..runs.store import RunStore

    folder = out / record["folder"]
    r = summary(folder)
    model, dataset = study.models[record["model"]], study.datasets[record["dataset"]]
    column = paper_column(dataset, r)
    name = _study_network(RunStore(folder).read_config(), "zoom")
    paper = paper_figures(name, column) if column in PAPER_DATASETS else None
    ours = {f: value(r) for f, value in _ZOOM_VALUES.items()}
    theirs = {f: paper[key] for f, key in _PAPER_FIGURES.items()} if paper else {}
    common = {"model": record["model"], "spec": model["spec"], "dataset": record["dataset"]}
    where = {"experiment": record["experiment"], "run": record["folder"]}
    lo, hi = (r.confidence or {}).get("upper_bound") or (None, None)
    zoom = {**common, "images": r.n_images, "transforms": r.n_transforms, **ours,
            "chance_upper_bound": r.chance_upper_bound, "upper_bound_lo": lo, "upper_bound_hi": hi,
            "paper_model": paper["model"] if paper else None, "paper_dataset": column if paper else None,
            **{f"paper_{f}": theirs.get(f) for f in ZOOM_FIGURES},
            **{f"diff_{f}": _diff(ours[f], theirs.get(f)) for f in ZOOM_FIGURES}, **where}
    d = r.disentangle_cover
    groups = {g: getattr(d, g) if d else None for g in DISENTANGLE_GROUPS}
    mine = {**{g: v.upper_bound if v else None for g, v in groups.items()},
            **{f"exclusive_{g}": v.exclusive if v else None for g, v in groups.items()}}
    book = paper_disentangle().get((name, column)) if name else None
    disentangle = {**common, **mine, "paper_model": name if book else None, "paper_dataset": column if book else None,
                   **{f"paper_{f}": (book or {}).get(f) for f in _DISENTANGLE_FIGURES}, **where}
    return zoom, disentangle


def _result(record: dict, out: Path):
    return json.loads((out / record["folder"] / RESULT).read_text())


def bench_paper(summary: dict, column: str | None) -> dict:
    """{"model", "top1"} of the paper for a bench summary: the bench's own when it gives one, else
    the study's ImageNet-Hard (-4K) figure of the same exact network, when the dataset is that."""
    if isinstance(summary.get("paper"), dict):
        return summary["paper"]
    from ..paper import top1_figures

    table = HARD_TABLES.get(column or "")
    name = _study_network(summary, table) if table else None
    return {"model": name, "top1": top1_figures(table).get(name)} if name else {}


def bench_rows(study: Study, record: dict, out: Path) -> tuple[dict, list[dict]]:
    s = _result(record, out)
    model = study.models[record["model"]]
    spec = model["spec"]
    paper = bench_paper({**s, "weights": model["weights"]}, paper_column(study.datasets[record["dataset"]]))
    common = {"model": record["model"], "spec": spec, "dataset": record["dataset"]}
    where = {"experiment": record["experiment"], "run": record["folder"]}
    row = {**common, "n": s["n"], "top1": s["top1"], "top5": s["top5"], "paper_model": paper.get("model"),
           "paper_top1": paper.get("top1"), "diff_top1": _diff(s["top1"], paper.get("top1")), **where}
    origins = [{**common, "origin": o, "n": v["n"], "top1": v["top1"], **where} for o, v in s["per_origin"].items()]
    return row, origins


def tta_rows(study: Study, record: dict, out: Path) -> list[dict]:
    results = _result(record, out)
    results = results if isinstance(results, list) else [results]
    model = study.models[record["model"]]
    spec = model["spec"]
    # MEMO's ResNet-50 is the zoom table's: torchvision's IMAGENET1K_V1 weights
    name = _study_network({"model": spec, "weights": model["weights"],
                           "weights_tag": results[0].get("weights_tag")}, "zoom")
    column = paper_column(study.datasets[record["dataset"]])
    table = paper_tta()[1]
    rows = []
    for r in results:
        method = table.get((name, PAPER_METHODS.get(r["method"], "")), {}).get(column)
        baseline = table.get((name, "baseline"), {}).get(column)
        known = method is not None or baseline is not None
        rows.append({"model": record["model"], "spec": spec, "dataset": record["dataset"], "method": r["method"],
                     "n": r["n"], "top1": r["top1"], "baseline_top1": r["baseline_top1"],
                     "seconds_per_image": r["seconds_per_image"], "paper_model": name if known else None,
                     "paper_dataset": column if known else None, "paper_top1": method,
                     "paper_baseline_top1": baseline, "diff_top1": _diff(r["top1"], method),
                     "diff_baseline_top1": _diff(r["baseline_top1"], baseline),
                     "experiment": record["experiment"], "run": record["folder"]})
    return rows


def collect(study: Study, out: Path, records: list[dict]) -> Tables:
    """The tables over the cells that are done, in the study's order."""
    t = Tables()
    for rec in records:
        if rec.get("status") != "done":
            continue
        if rec["kind"] == "zoom":
            zoom, disentangle = zoom_rows(study, rec, out)
            t.zoom.append(zoom)
            t.disentangle.append(disentangle)
        elif rec["kind"] == "bench":
            row, origins = bench_rows(study, rec, out)
            t.bench.append(row)
            t.bench_origins += origins
        else:
            t.tta += tta_rows(study, rec, out)
    return t


def write_tables(study: Study, out: Path, records: list[dict]) -> Tables:
    t = collect(study, Path(out), records)
    folder = Path(out) / "tables"
    for name, columns in (("zoom", ZOOM_COLUMNS), ("disentangle", DISENTANGLE_COLUMNS), ("bench", BENCH_COLUMNS), ("bench_origins", ORIGIN_COLUMNS),
                          ("tta", TTA_COLUMNS)):
        rows = getattr(t, name)
        write_csv(folder / f"{name}.csv", list(columns), ([_csv(r[c]) for c in columns] for r in rows))
        (folder / f"{name}.md").write_text(markdown(columns, rows))
        t.files[name] = folder / f"{name}.csv"
        t.files[f"{name}_md"] = folder / f"{name}.md"
    return t


def _csv(v):
    return "" if v is None else v


def _md(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4f}"
    return str(v).replace("|", "\\|")


def markdown(columns: tuple[str, ...], rows: list[dict]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(_md(r[c]) for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"
