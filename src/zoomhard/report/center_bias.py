"""The paper's spatial-bias figures (its Figure 2: ResNet-50's per-anchor upper bound on
ImageNet-A and ObjectNet, resources/center_bias_resnet50.csv) beside the runs they describe."""

from __future__ import annotations

import csv
import io
from functools import lru_cache
from importlib import resources

from ..analysis import Analysis
from ..grid import ZoomGrid
from ..paper import study_model_of_run
from .datasets import paper_dataset

NOTE = ("The paper's figures are over the greedy min-cover's transforms, as per_anchor_cover is, but the "
        "authors also masked each image's transforms by per-image anchor-visibility data that was never "
        "published, so they are not expected to match this run exactly.")


@lru_cache(maxsize=None)
def paper_center_bias() -> dict[str, list[list[float]]]:
    """dataset column (IN-A, ON) -> (rows, cols) per-anchor upper bound in [0, 1], row 0 = top."""
    text = resources.files("zoomhard.resources").joinpath("center_bias_resnet50.csv").read_text()
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    maps: dict[str, list[list[float]]] = {}
    for r in csv.DictReader(io.StringIO("\n".join(lines))):
        rows = maps.setdefault(r["dataset"], [])
        if int(r["row"]) != len(rows):
            raise ValueError("center_bias_resnet50.csv: rows must be listed 0, 1, 2 per dataset")
        rows.append([round(float(r[f"col{k}"]) / 100, 6) for k in range(3)])
    return maps


def is_study_resnet50(config: dict) -> bool:
    """Whether a run's network is the study's ResNet-50 (torchvision resnet50 with the
    IMAGENET1K_V1 weights; a bare torchvision:resnet50 loads DEFAULT, which is V2)."""
    twin = study_model_of_run(config)
    return twin is not None and twin.paper_model == "ResNet-50"


def matching_figures(result: Analysis | dict, config: dict, path: str | None = None) -> dict | None:
    """{"model", "dataset", "per_anchor", "note"} of the paper for a full sweep of the study's
    ResNet-50 over the study's grid on ImageNet-A or ObjectNet (as compare infers the dataset,
    from the run folder at `path` for a folder run under --subset auto); None for every other
    run. `result` is the run's Analysis or analysis.json's dict."""
    if isinstance(result, dict):
        result = Analysis.from_dict(result)
    if result.partial or result.per_anchor_cover is None:
        return None
    if not is_study_resnet50(config) or result.grid != ZoomGrid():
        return None
    dataset = paper_dataset(config, path)
    figures = paper_center_bias().get(dataset)
    if figures is None:
        return None
    return {"model": "ResNet-50", "dataset": dataset, "per_anchor": figures, "note": NOTE}
