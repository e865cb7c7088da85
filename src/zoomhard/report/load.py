"""A run folder's predictions loaded as a correctness matrix, and its Analysis: computed in
memory, or read back from RUN/analysis.json when that is up to date. Nothing here writes."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .. import analysis as A
from ..analysis import ANALYSIS_VERSION, TOP_K, Analysis
from ..grid import ZoomGrid
from ..errors import ZoomhardError
from ..stats import CI_RESAMPLES
from ..runs import tables
from ..runs.store import RunError, RunStore


@dataclass
class LoadedRun:
    path: Path
    config: dict
    grid: ZoomGrid
    table: pa.Table          # image_id, scale, row, col, correct, top1, label_prob
    images: pa.Table         # runs.store.IMAGES rows in the order of c.image_ids
    c: tables.Correctness
    fingerprint: str
    layout: tables.Layout         # where each row of `table` sits in c.matrix
    parts: list[Path]        # the predictions parts read
    part_of_row_end: np.ndarray  # cumulative row counts of the parts: row -> part by searchsorted

    def values(self, column: str, fill=0) -> np.ndarray:
        """A column of the predictions as (images, transforms), like c.matrix."""
        return tables.values(self.table, self.c, self.grid, column, fill, self.layout)

    def labels(self) -> list[tuple[int, ...]]:
        """Each image's acceptable labels, in the order of c.image_ids."""
        return tables.labels(self.images)

    def parts_of(self, images: list[int]) -> list[Path]:
        """The predictions parts that hold these images (by index into c.image_ids)."""
        first = [int(np.argmax(self.layout.image == i)) for i in images]   # a row of each image
        return sorted({self.parts[int(np.searchsorted(self.part_of_row_end, r, side="right"))] for r in first})


@dataclass
class AnalyzedRun:
    run: LoadedRun
    result: Analysis         # what analysis.json holds


PREDICTION_COLUMNS = ["image_id", "scale", "row", "col", "correct", "top1", "label_prob"]


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
    except (KeyError, TypeError, ValueError, ZoomhardError) as e:
        raise RunError(f"{path}: run.json has an unreadable grid ({e})") from None
    parts = store.checked_parts(config, grid)
    # image ids read as a dictionary column: no string per row, half the time and memory
    read = [pq.read_table(p, columns=PREDICTION_COLUMNS, read_dictionary=["image_id"]) for p in parts]
    if not read or sum(len(t) for t in read) == 0:
        raise RunError(f"{path}: incomplete run, no predictions yet; run the sweep (it resumes) first")
    table = pa.concat_tables(read).unify_dictionaries()
    ends = np.cumsum([len(t) for t in read])
    del read
    lay = tables.layout(table, grid)
    c = tables.correctness(table, grid, lay)
    images = tables.in_order(store.images(), c.image_ids)
    return LoadedRun(Path(path), config, grid, table, images, c, _fingerprint(parts), lay, parts, ends)


def compute(run: LoadedRun, ci_resamples: int = CI_RESAMPLES) -> Analysis:
    """The analysis of a loaded run, without writing anything; `ci_resamples` bootstrap
    resamples for its intervals (0: none)."""
    return Analysis.from_dict({
        "run": str(run.path),
        "fingerprint": run.fingerprint,
        "model": run.config.get("model"),
        "data": run.config.get("data"),
        "subset": run.config.get("subset"),
        "grid": run.grid.to_dict(),
        **A.analyze(run.c, run.grid, TOP_K, partial=is_partial(run), top1=run.values("top1"), labels=run.labels(),
                    ci_resamples=ci_resamples),
    })


def is_partial(run: LoadedRun) -> bool:
    """An --until-correct run, or any run whose images lack some transform."""
    return run.config.get("mode") == "until-correct" or A.is_partial(run.c)


def read_fresh(path: str | os.PathLike) -> Analysis | None:
    """RUN/analysis.json if this version wrote it from the predictions the run holds now."""
    store = RunStore(path)
    f = Path(path) / "analysis.json"
    if not f.is_file():
        return None
    try:
        doc = json.loads(f.read_text())
    except json.JSONDecodeError:
        return None
    if doc.get("analysis_version") != ANALYSIS_VERSION or doc.get("fingerprint") != _fingerprint(store.prediction_parts()):
        return None
    return Analysis.from_dict(doc)


def summary(path: str | os.PathLike) -> Analysis:
    """The run's analysis: the stored one when fresh, else computed in memory (nothing written)."""
    RunStore(path).read_config()
    fresh = read_fresh(path)
    return fresh if fresh is not None else compute(load_run(path))
