"""The sweep: every image of a source, through every transform of a grid, by one classifier.

    SweepConfig -> an engine (engines.py, by name: local.py threads or ray.py)
                -> pipeline: decode once, resize once per scale, cut all anchors, batch, classify
                -> the engine scores each image (rows.py; until_correct.py stops at the first
                   correct transform)
                -> session.py: flushes, errors, progress -> run folder (zoomhard.runs)

    inputs.py    the source and classifier a config names    identity.py  what the run records
    summary.py   the run's summary                            signals.py   stops that wait for a write

Completed images are flushed to the run folder in atomic parts; a run started again skips every
image already written or recorded as unusable, whichever engine wrote them.
"""

from __future__ import annotations

from typing import Callable

from .config import SweepConfig
from ..data import Source
from ..errors import DataError
from ..models import Classifier
from ..runs.store import RunStore
from .engines import ENGINES, engine  # noqa: F401
from .signals import terminate_as_interrupt

# Names users of zoomhard.sweep import from here (the command line, results, scripts, tests).
from ..pipeline import Batcher, ImageCrops, ScoredImage  # noqa: F401
from .inputs import run_classifier  # noqa: F401
from .signals import Terminated  # noqa: F401
from .summary import summarize  # noqa: F401
from .until_correct import default_order  # noqa: F401


def run_sweep(cfg: SweepConfig, log: Callable[[str], None] = print, source: Source | None = None,
              classifier: Classifier | None = None) -> dict:
    """Sweep, resuming whatever `cfg.out` already holds; returns the run's summary. `source` and
    `classifier` replace the ones cfg.setup.data and cfg.setup.model name (zoomhard.sweep's Python objects);
    such a sweep runs in this process on the classifier's device."""
    cfg.check(here=classifier is None)  # options set after the config was made; the device exists
    run = engine(cfg.engine)  # an unknown engine fails before anything starts
    with terminate_as_interrupt():
        summary = run(cfg, log, source, classifier)
    if not summary["images"] and (summary["unreadable"] or summary["unlabelled"]):
        raise nothing_swept(summary, cfg.out)
    return summary


def nothing_swept(summary: dict, out: str) -> DataError:
    """Every image refused: the counts and the first reason (errors.csv holds them all)."""
    errors = RunStore(out).errors()
    image_id, reason = next(iter(errors.items()))
    return DataError(f"no images swept: all {len(errors)} refused ({summary['unreadable']} unreadable, "
                     f"{summary['unlabelled']} without a label; {RunStore(out).errors_path} lists them); "
                     f"the first, {image_id}: {reason}")


def format_summary(summary: dict, out: str) -> str:
    refused = f"{summary['unreadable']} unreadable" + (
        f", {summary['unlabelled']} without a label" if summary.get("unlabelled") else "")
    if not summary["images"]:
        return f"no images swept ({refused}) -> {out}"
    standard = "not evaluated" if summary["standard_top1"] is None else f"{summary['standard_top1']:.2%}"
    standard_how = f": {summary['standard_preprocess']}" if summary.get("standard_preprocess") else ""
    evaluated = "" if summary["evaluated"] >= 1 else f" ({summary['evaluated']:.1%} of the grid evaluated)"
    return (f"{summary['images']} images x {summary['transforms']} transforms: "
            f"standard 1-crop ({summary['standard']}{standard_how}) top-1 {standard}, "
            f"upper bound {summary['upper_bound']:.2%}{evaluated}, {refused} -> {out}")
