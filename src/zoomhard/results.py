"""A sweep's results in Python: `Run` over a run folder, and the typed `Analysis` of it
(zoomhard.analysis.Analysis).

A Run made with `out=None` lives in a temporary folder that is removed with the Run object; it
is otherwise the same as a folder run, so both give the same tables and the same analysis.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pyarrow as pa

from .analysis import Analysis
from .grid import ZoomGrid
from .errors import ZoomhardError
from .runs.store import RunError, RunStore

__all__ = ["Analysis", "Run", "open_run"]


class Run:
    """A sweep's run folder: predictions, summary, analysis, report and unusable images.

    Made by `zoomhard.sweep` or `zoomhard.open_run`; `path` is the folder (a temporary one for
    a sweep with `out=None`, removed together with this object)."""

    def __init__(self, path: str | os.PathLike, _temporary: tempfile.TemporaryDirectory | None = None):
        self.path = Path(path)
        self._temporary = _temporary  # keeps an in-memory run's folder alive as long as the Run
        self._store = RunStore(self.path)
        self.config = self._store.read_config()
        self._store.checked_parts(self.config, self.grid)   # refused in one line, as analyze and report do

    def __repr__(self) -> str:
        s = self.summary
        where = "in memory" if self._temporary else str(self.path)
        return (f"<zoomhard.Run {self.config.get('model')} on {s.get('images', 0)} images x "
                f"{s.get('transforms', 0)} transforms, {where}>")

    @property
    def grid(self) -> ZoomGrid:
        try:
            return ZoomGrid.from_dict(self.config["grid"])
        except (KeyError, TypeError, ValueError, ZoomhardError) as e:
            raise RunError(f"{self.path}: run.json has an unreadable grid ({e})") from None

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

    def analyze(self, ci_resamples: int | None = None) -> Analysis:
        """The study's analysis of this run (nothing is written): its figures, their chance
        levels and 95 % intervals (`ci_resamples` bootstrap resamples, default 1,000; 0: none)."""
        from .report.load import compute, load_run
        from .stats import CI_RESAMPLES

        return compute(load_run(self.path), CI_RESAMPLES if ci_resamples is None else ci_resamples)

    def report(self, path: str | os.PathLike, allow_outside_root: bool = False) -> Path:
        """The self-contained HTML report (writes the analysis and figures into the run folder);
        `allow_outside_root` as `zoomhard report --allow-outside-root`."""
        from .report.html import write_report

        return write_report([str(self.path)], path, allow_outside_root=allow_outside_root)


def open_run(path: str | os.PathLike) -> Run:
    """A run folder made by `zoomhard sweep` or `zoomhard.sweep(..., out=PATH)`."""
    if not Path(path).is_dir():
        raise RunError(f"{path}: no such run folder")
    return Run(path)
