"""A run's summary: images, standard 1-crop top-1, upper bound and the images refused, over
everything the run folder holds; kept in run.json by the process that owns the run."""

from __future__ import annotations

from .. import analysis
from ..data.base import unlabelled as _unlabelled
from ..grid import ZoomGrid
from ..runs import tables
from ..runs.store import RunStore


def summarize(store: RunStore, grid: ZoomGrid) -> dict:
    table = store.predictions(columns=["image_id", "scale", "row", "col", "correct"])
    c = tables.correctness(table, grid)
    n = len(c.image_ids)
    return {"images": n, "transforms": len(grid), "standard": grid.standard.id,
            "standard_preprocess": grid.describe_standard(),
            "standard_top1": analysis.standard_top1(c, grid) if analysis.standard_evaluated(c, grid) else None,
            "upper_bound": analysis.upper_bound(c),
            "evaluated": float(c.observed.mean()) if n else 0.0,
            **refused_counts(store.errors())}


def refused_counts(errors: dict[str, str]) -> dict:
    """errors.csv's images counted by why: no label to score against, or a file not read."""
    unlabelled = sum(map(_unlabelled, errors.values()))
    return {"unreadable": len(errors) - unlabelled, "unlabelled": unlabelled}


def write_summary(store: RunStore, grid: ZoomGrid) -> dict:
    """The run's summary over everything it holds, also kept in run.json."""
    config = store.read_config()
    summary = {**summarize(store, grid), "protocol": config.get("protocol", "native"),
               "weights_tag": config.get("weights_tag"),
               "activation": (config.get("classifier") or {}).get("activation")}
    store.update_config(summary=summary)
    return summary
