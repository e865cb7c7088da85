"""Load a run folder, analyse it and write what the analysis found next to it.

    RUN/analysis.json       every number (fractions in [0, 1]; transform ids like s256-r1c1)
    RUN/analysis/*.csv      per transform, scale, anchor, class and image; the min cover
    RUN/figures/*.png       spatial bias, accuracy vs scale, cover curve, top-36 histograms, gallery
    RUN/gallery/*.png       the crops of the gallery of images fixed by zoom
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .. import analysis as A
from .. import labels as L
from ..grid import ZoomGrid
from ..store import RunError, RunStore, write_csv

ANALYSIS_VERSION = 2   # 2: partial, evaluated, per_anchor_cover, disentangle_cover
TOP_K = 36          # the study's "36 crops"
GALLERY_SIZE = 6


@dataclass
class LoadedRun:
    path: Path
    config: dict
    grid: ZoomGrid
    table: pa.Table          # image_id, scale, row, col, correct, top1, label_prob
    images: pa.Table         # store.IMAGES rows in the order of c.image_ids
    c: A.Correctness
    fingerprint: str
    layout: A.Layout         # where each row of `table` sits in c.matrix
    parts: list[Path]        # the predictions parts read
    part_of_row_end: np.ndarray  # cumulative row counts of the parts: row -> part by searchsorted

    def values(self, column: str, fill=0) -> np.ndarray:
        """A column of the predictions as (images, transforms), like c.matrix."""
        return self.layout.scatter(self.table.column(column).to_numpy(zero_copy_only=False), fill)

    def parts_of(self, images: list[int]) -> list[Path]:
        """The predictions parts that hold these images (by index into c.image_ids)."""
        first = [int(np.argmax(self.layout.image == i)) for i in images]   # a row of each image
        return sorted({self.parts[int(np.searchsorted(self.part_of_row_end, r, side="right"))] for r in first})


@dataclass
class AnalyzedRun:
    run: LoadedRun
    result: dict             # what analysis.json holds


COLUMNS = ["image_id", "scale", "row", "col", "correct", "top1", "label_prob"]


def _fingerprint(parts: list[Path]) -> str:
    """Names the prediction parts an analysis was computed from."""
    h = hashlib.sha1()
    for p in parts:
        h.update(p.name.encode())
    return h.hexdigest()[:16]


def load_run(path: str | os.PathLike) -> LoadedRun:
    """A run folder's predictions as a correctness matrix, or RunError saying what is wrong."""
    store = RunStore(path)
    config = store.read_config()   # missing folder, no run.json, other format version
    if "grid" not in config:
        raise RunError(f"{path}: run.json has no grid; sweep it again with this version of zoomhard")
    try:
        grid = ZoomGrid.from_dict(config["grid"])
    except (KeyError, TypeError, ValueError) as e:
        raise RunError(f"{path}: run.json has an unreadable grid ({e})") from None
    parts = store.prediction_parts()
    # image ids read as a dictionary column: no string per row, half the time and memory
    tables = [pq.read_table(p, columns=COLUMNS, read_dictionary=["image_id"]) for p in parts]
    if not tables or sum(len(t) for t in tables) == 0:
        raise RunError(f"{path}: incomplete run, no predictions yet; run the sweep (it resumes) first")
    table = pa.concat_tables(tables).unify_dictionaries()
    ends = np.cumsum([len(t) for t in tables])
    del tables
    lay = A.layout(table, grid)
    c = A.correctness(table, grid, lay)
    images = store.images()
    order = pc.index_in(pa.array(c.image_ids, pa.string()), value_set=images.column("image_id"))
    if order.null_count:
        images = _with_missing(images, c.image_ids, order)
        order = pc.index_in(pa.array(c.image_ids, pa.string()), value_set=images.column("image_id"))
    images = images.take(order)
    return LoadedRun(Path(path), config, grid, table, images, c, _fingerprint(parts), lay, parts, ends)


def _with_missing(images: pa.Table, ids: list[str], order) -> pa.Table:
    """Images that have predictions but no images row (never written by this version) get an
    empty label set rather than breaking the analysis."""
    missing = [i for i, o in zip(ids, order.to_pylist()) if o is None]
    extra = pa.table({"image_id": missing, "labels": [[] for _ in missing], "origin": [""] * len(missing),
                      "width": [0] * len(missing), "height": [0] * len(missing),
                      "locator": [""] * len(missing)}, schema=images.schema)
    return pa.concat_tables([images, extra])


def _labels(run: LoadedRun) -> list[tuple[int, ...]]:
    return [tuple(x) for x in run.images.column("labels").to_pylist()]


def _name(index: int) -> str:
    return L.short_name(index) if 0 <= index < len(L.wnids()) else str(index)


def compute(run: LoadedRun) -> dict:
    """analysis.json of a loaded run, without writing anything."""
    result = {
        "analysis_version": ANALYSIS_VERSION,
        "run": str(run.path),
        "fingerprint": run.fingerprint,
        "model": run.config.get("model"),
        "data": run.config.get("data"),
        "subset": run.config.get("subset"),
        "grid": run.grid.to_dict(),
    }
    result.update(A.analyze(run.c, run.grid, TOP_K, partial=is_partial(run)))
    return result


def is_partial(run: LoadedRun) -> bool:
    """An --until-correct run, or any run whose images lack some transform."""
    return run.config.get("mode") == "until-correct" or A.is_partial(run.c)


def read_fresh(path: str | os.PathLike) -> dict | None:
    """RUN/analysis.json if it was made from the predictions the run holds now."""
    store = RunStore(path)
    f = Path(path) / "analysis.json"
    if not f.is_file():
        return None
    try:
        result = json.loads(f.read_text())
    except json.JSONDecodeError:
        return None
    if result.get("analysis_version") != ANALYSIS_VERSION or result.get("fingerprint") != _fingerprint(store.prediction_parts()):
        return None
    return result


def summary(path: str | os.PathLike) -> dict:
    """The run's analysis: the stored one when fresh, else computed in memory (nothing written)."""
    RunStore(path).read_config()
    fresh = read_fresh(path)
    return fresh if fresh is not None else compute(load_run(path))


def write_tables(run: LoadedRun, result: dict, out: Path) -> None:
    """The CSVs; a partial run gets only those that stay exact (per class and per image, with
    the standard crop blank where it was not evaluated), and stale grid-wide ones are removed."""
    c, grid = run.c, run.grid
    grid_wide = ("per_transform.csv", "per_scale.csv", "per_anchor.csv", "min_cover.csv")
    if result["partial"]:
        for name in grid_wide:
            (out / name).unlink(missing_ok=True)
    else:
        _write_grid_tables(run, result, out)
    labels = _labels(run)
    std_j = c.zooms.index(grid.standard)
    std_seen = c.observed[:, std_j]
    rows = A.per_class(c, grid, labels)
    std_known = result["standard_top1"] is not None
    write_csv(out / "per_class.csv", ["class", "wnid", "name", "images", "standard_top1", "upper_bound"],
               ([r["class"], L.wnids()[r["class"]] if r["class"] < len(L.wnids()) else "", _name(r["class"]),
                 r["images"], f"{r['standard_top1']:.6f}" if std_known else "", f"{r['upper_bound']:.6f}"]
                for r in rows))
    std = c.matrix[:, std_j]
    solved = c.matrix.any(axis=1)
    # under --until-correct an image's count of right transforms covers only those it tried
    n_correct = None if result["partial"] else c.matrix.sum(axis=1)
    ids = c.image_ids
    origin = run.images.column("origin").to_pylist()
    write_csv(out / "per_image.csv", ["image_id", "labels", "origin", "standard_correct", "transforms_correct", "solved"],
               ([ids[i], " ".join(map(str, labels[i])), origin[i], int(std[i]) if std_seen[i] else "",
                 "" if n_correct is None else int(n_correct[i]), int(solved[i])] for i in range(len(ids))))


def _write_grid_tables(run: LoadedRun, result: dict, out: Path) -> None:
    c, grid = run.c, run.grid
    acc = A.per_transform(c)
    write_csv(out / "per_transform.csv", ["transform", "scale", "row", "col", "top1"],
               ([z.id, z.scale, z.row, z.col, f"{a:.6f}"] for z, a in zip(c.zooms, acc)))
    write_csv(out / "per_scale.csv", ["scale", "upper_bound_9_anchors", "center"],
               ([s, f"{result['per_scale'][str(s)]:.6f}", f"{result['center_per_scale'][str(s)]:.6f}"]
                for s in grid.scales))
    write_csv(out / "per_anchor.csv", ["row", "col", "upper_bound", "upper_bound_cover"],
               ([r, col, f"{v:.6f}", f"{result['per_anchor_cover'][r][col]:.6f}"]
                for r, line in enumerate(result["per_anchor"]) for col, v in enumerate(line)))
    write_csv(out / "min_cover.csv", ["rank", "transform", "newly_covered", "accuracy"],
               ([k + 1, t, n, f"{a:.6f}"] for k, (t, n, a) in
                enumerate(zip(result["min_cover"], result["min_cover_new"], result["cover_curve"]))))


def gallery_entries(run: LoadedRun, limit: int = GALLERY_SIZE) -> list[dict]:
    """Images fixed by zoom: the standard crop's wrong answer beside the best zoom's right one."""
    c, grid = run.c, run.grid
    label_prob = run.values("label_prob", fill=np.float32(0))
    picks = A.fixed_by_zoom(c, grid, label_prob, limit)
    if not picks:
        return []
    std_j = c.zooms.index(grid.standard)
    top1 = run.values("top1", fill=np.int16(-1))
    ids = [c.image_ids[i] for i, _ in picks]
    z = grid.standard
    wanted = [("image_id", "in", ids), ("scale", "=", z.scale), ("row", "=", z.row), ("col", "=", z.col)]
    std_prob = {}
    for part in run.parts_of([i for i, _ in picks]):   # only the parts that hold these images
        for r in pq.read_table(part, columns=["image_id", "top5_prob"], filters=wanted).to_pylist():
            std_prob[r["image_id"]] = (r["top5_prob"] or [0.0])[0]
    out = []
    for i, j in picks:
        row = run.images.slice(i, 1).to_pylist()[0]
        out.append({
            "image_id": c.image_ids[i],
            "labels": [_name(k) for k in row["labels"]],
            "origin": row["origin"],
            "locator": row["locator"],
            "standard": {"transform": grid.standard.id, "top1": int(top1[i, std_j]),
                         "name": _name(int(top1[i, std_j])), "prob": float(std_prob.get(c.image_ids[i], 0.0))},
            "best": {"transform": c.zooms[j].id, "top1": int(top1[i, j]), "name": _name(int(top1[i, j])),
                     "prob": float(label_prob[i, j])},
        })
    return out


def gallery_crops(run: LoadedRun, entries: list[dict], out: Path) -> None:
    """Cut each gallery entry's two crops from the original image; entries whose image cannot be
    read again get an `unreadable` reason instead."""
    from PIL import Image

    from ..crops import ImageDecodeError, decode_image, zoom_crop
    from ..data import DataError, read_locator
    from ..grid import Zoom

    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.png"):
        old.unlink()
    for k, e in enumerate(entries):
        try:
            img = decode_image(read_locator(e["locator"]))
        except (ImageDecodeError, DataError, OSError) as err:
            e["unreadable"] = str(err)
            continue
        for side in ("standard", "best"):
            z = Zoom.parse(e[side]["transform"])
            crop = zoom_crop(img, z, ZoomGrid((z.scale,), run.grid.rows, run.grid.cols, run.grid.crop))
            name = f"{k:02d}-{side}.png"
            Image.fromarray(crop).save(out / name)
            e[side]["crop"] = f"gallery/{name}"


def analyze_run(path: str | os.PathLike, figures: bool = True, gallery: int = GALLERY_SIZE,
                log: Callable[[str], None] = lambda m: None, out: Path | None = None) -> AnalyzedRun:
    """Analyse a run folder and write analysis.json, the CSVs and (with `figures`) the PNGs,
    into the run folder or `out`."""
    run = load_run(path)
    result = compute(run)
    out = Path(out) if out is not None else run.path
    write_tables(run, result, out / "analysis")
    entries = gallery_entries(run, gallery) if gallery else []
    if figures:
        from . import figures as F

        gallery_crops(run, entries, out / "gallery")
        result["figures"] = F.write_all(result, entries, out, run.grid)
    result["gallery"] = entries
    tmp = out / ".analysis.json.tmp"
    tmp.write_text(json.dumps(result, indent=1) + "\n")
    os.replace(tmp, out / "analysis.json")
    log(f"analysis of {len(run.c.image_ids)} images -> {out / 'analysis.json'}")
    return AnalyzedRun(run, result)


def format_result(result: dict) -> str:
    k = TOP_K
    head = f"{result['n_images']} images x {result['n_transforms']} transforms: "
    if result.get("partial"):
        std = result["standard_top1"]
        return (head + f"partial run ({result['evaluated']:.1%} of the grid evaluated): upper bound "
                f"{result['upper_bound']:.2%}, standard ({result['standard']}) "
                + ("not evaluated for every image" if std is None else f"{std:.2%}")
                + "; only the upper bound and the standard crop are exact, so there is no min cover, "
                "36-crop, per-anchor or per-scale figure")
    return (head + f"standard ({result['standard']}) {result['standard_top1']:.2%}, first {k} of the cover "
            f"{result[f'top{k}_upper_bound']:.2%}, upper bound {result['upper_bound']:.2%}; "
            f"greedy min cover: {len(result['min_cover'])} transform(s)")
