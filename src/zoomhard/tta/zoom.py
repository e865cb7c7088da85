"""Zoom ensembles: the softmax of several zoom transforms of an image, averaged or max-pooled.

No gradient and no randomness: each image is decoded once, each scale resized once, and the
crops of all chosen transforms go to the classifier in batches (crops.zoom_crops).
"""

from __future__ import annotations

import re

import numpy as np

from ..analysis import read_min_cover
from ..errors import UsageError
from ..grid import Zoom, ZoomGrid

JSON_SPEC = re.compile(r"^(?P<path>.+\.json)(?::(?P<k>\d+))?$")


def zoom_in_transforms(grid: ZoomGrid | None = None) -> list[Zoom]:
    """The default set: every transform of the study's grid that enlarges (scale > crop size)."""
    grid = grid or ZoomGrid()
    return [z for z in grid if z.scale > grid.crop]


def parse_transforms(text: str | None, grid: ZoomGrid | None = None) -> list[Zoom]:
    """None -> the zoom-in part of the grid; 's256-r1c1,s384-r0c2' -> those; 'RUN/analysis.json'
    or 'RUN/analysis.json:36' -> that run's greedy min-cover (its first 36)."""
    grid = grid or ZoomGrid()
    if text is None or not text.strip():
        return zoom_in_transforms(grid)
    text = text.strip()
    m = JSON_SPEC.match(text)
    if m:
        try:
            zooms = read_min_cover(m["path"])
        except ValueError as e:
            raise UsageError(f"--transforms {e}") from None
        if m["k"] is not None:
            if int(m["k"]) < 1:
                raise UsageError("--transforms PATH:K needs K >= 1")
            zooms = zooms[:int(m["k"])]
    else:
        zooms = [Zoom.parse(t) for t in text.split(",") if t.strip()]
    for z in zooms:
        if not (z.scale >= 1 and 0 <= z.row < grid.rows and 0 <= z.col < grid.cols):
            raise UsageError(f"transform {z.id} is outside the {grid.rows} x {grid.cols} anchor grid")
    if not zooms:
        raise UsageError("--transforms names no transform")
    return list(dict.fromkeys(zooms))  # each once, in the order given


def ensemble(probs: np.ndarray, how: str) -> np.ndarray:
    """(views, classes) -> (classes,): 'mean' or 'max' over views."""
    if how == "mean":
        return probs.mean(axis=0)
    if how == "max":
        return probs.max(axis=0)
    raise UsageError(f"unknown ensemble {how!r}; choose mean or max")
