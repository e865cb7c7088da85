"""A sweep's results in Python: `Run` over a run folder, and the typed `Analysis` of it.

A Run made with `out=None` lives in a temporary folder that is removed with the Run object; it
is otherwise the same as a folder run, so both give the same tables and the same analysis.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field, fields
from pathlib import Path

import pyarrow as pa

from .grid import Zoom, ZoomGrid
from .store import RunError, RunStore


@dataclass(frozen=True)
class Analysis:
    """analysis.json as typed attributes (fractions in [0, 1]); `to_dict()` gives the JSON form.

    Keys of a newer analysis that this class does not name are kept in `extra` and read as
    attributes too (`analysis.some_key`)."""

    n_images: int
    n_transforms: int
    grid: ZoomGrid
    standard: Zoom                       # the standard crop (s256-r1c1 on the study's grid)
    standard_top1: float
    upper_bound: float                   # some transform is right
    unsolved: float                      # no transform is right
    per_anchor: list[list[float]]        # rows x cols, row 0 = top: some scale at that anchor is right
    per_scale: dict[int, float]          # some anchor at that scale is right
    center_per_scale: dict[int, float]   # the centre anchor alone at that scale
    min_cover: list[Zoom]                # the greedy cover, in pick order
    min_cover_new: list[int]             # images each pick newly covers
    cover_curve: list[float]             # accuracy of the first k picks
    top36_upper_bound: float             # accuracy of the first 36 picks (the study's "36 crops")
    disentangle: dict                    # zoom-in / zoom-out / crop-scale upper bounds
    top36_histograms: dict               # where the first 36 picks sit: anchors and scales
    model: str | None = None
    data: dict | None = None
    subset: dict | None = None
    run: str | None = None
    fingerprint: str | None = None
    analysis_version: int | None = None
    extra: dict = field(default_factory=dict)

    def __getattr__(self, name: str):
        extra = self.__dict__.get("extra", {})
        if name in extra:
            return extra[name]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    @classmethod
    def from_dict(cls, d: dict) -> "Analysis":
        names = {f.name for f in fields(cls)} - {"extra"}
        typed = {
            "grid": ZoomGrid.from_dict(d["grid"]),
            "standard": Zoom.parse(d["standard"]),
            "per_scale": {int(k): float(v) for k, v in d["per_scale"].items()},
            "center_per_scale": {int(k): float(v) for k, v in d["center_per_scale"].items()},
            "min_cover": [Zoom.parse(z) for z in d["min_cover"]],
        }
        known = {k: typed.get(k, v) for k, v in d.items() if k in names}
        return cls(**known, extra={k: v for k, v in d.items() if k not in names})

    def to_dict(self) -> dict:
        """The analysis.json form: transform ids as strings, scales as string keys."""
        out = {}
        for f in fields(self):
            if f.name == "extra":
                continue
            v = getattr(self, f.name)
            if f.name == "grid":
                v = v.to_dict()
            elif f.name == "standard":
                v = v.id
            elif f.name in ("per_scale", "center_per_scale"):
                v = {str(k): x for k, x in v.items()}
            elif f.name == "min_cover":
                v = [z.id for z in v]
            out[f.name] = v
        return {**out, **self.extra}


class Run:
    """A sweep's run folder: predictions, summary, analysis, report and unusable images.

    Made by `zoomhard.sweep` or `zoomhard.open_run`; `path` is the folder (a temporary one for
    a sweep with `out=None`, removed together with this object)."""

    def __init__(self, path: str | os.PathLike, _temporary: tempfile.TemporaryDirectory | None = None):
        self.path = Path(path)
        self._temporary = _temporary  # keeps an in-memory run's folder alive as long as the Run
        self._store = RunStore(self.path)
        self.config = self._store.read_config()

    def __repr__(self) -> str:
        s = self.summary
        where = "in memory" if self._temporary else str(self.path)
        return (f"<zoomhard.Run {self.config.get('model')} on {s.get('images', 0)} images x "
                f"{s.get('transforms', 0)} transforms, {where}>")

    @property
    def grid(self) -> ZoomGrid:
        return ZoomGrid.from_dict(self.config["grid"])

    @property
    def predictions(self) -> pa.Table:
        """One row per image x transform (store.PREDICTIONS: image_id, scale, row, col, top1,
        correct, top5, top5_prob, label_prob)."""
        return self._store.predictions()

    @property
    def images(self) -> pa.Table:
        """One row per swept image: labels, origin, width, height, locator."""
        return self._store.images()

    def to_pandas(self):
        """The predictions as a pandas DataFrame, with a `transform` id column (s256-r1c1)."""
        df = self.predictions.to_pandas()
        df.insert(1, "transform", [f"s{s}-r{r}c{c}" for s, r, c in zip(df["scale"], df["row"], df["col"])])
        return df

    @property
    def summary(self) -> dict:
        """images, transforms, standard, standard_top1, upper_bound, evaluated, unreadable."""
        summary = self._store.read_config().get("summary")
        if summary is None:
            from .sweep import summarize

            summary = summarize(self._store, self.grid)
        return summary

    @property
    def errors(self) -> dict[str, str]:
        """image_id -> why the image could not be used (unreadable, no label, ...)."""
        return self._store.errors()

    def analyze(self) -> Analysis:
        """The study's analysis of this run (nothing is written)."""
        from .report.run import compute, load_run

        # through JSON, so that to_dict() is exactly what analysis.json holds (string keys)
        return Analysis.from_dict(json.loads(json.dumps(compute(load_run(self.path)))))

    def report(self, path: str | os.PathLike) -> Path:
        """The self-contained HTML report (writes the analysis and figures into the run folder)."""
        from .report.html import write_report

        return write_report([str(self.path)], path)


def open_run(path: str | os.PathLike) -> Run:
    """A run folder made by `zoomhard sweep` or `zoomhard.sweep(..., out=PATH)`."""
    if not Path(path).is_dir():
        raise RunError(f"{path}: no such run folder")
    return Run(path)
