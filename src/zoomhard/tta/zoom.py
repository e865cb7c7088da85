"""Zoom ensembles: the softmax of several zoom transforms of an image, averaged or max-pooled.

No gradient and no randomness: each image is decoded once, each scale resized once, and the
crops of all chosen transforms go to the classifier in batches (crops.zoom_crops).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from ..grid import Zoom, ZoomGrid

_JSON_SPEC = re.compile(r"^(?P<path>.+\.json)(?::(?P<k>\d+))?$")


def zoom_in_transforms(grid: ZoomGrid | None = None) -> list[Zoom]:
    """The default set: every transform of the study's grid that enlarges (scale > crop size)."""
    grid = grid or ZoomGrid()
    return [z for z in grid if z.scale > grid.crop]


def _cover_ids(doc) -> list[str]:
    """The min-cover transform ids from an analysis.json: a list of ids, or of objects with an
    id / transform field, under "min_cover" (directly or as its "transforms" / "ids")."""
    cover = doc.get("min_cover") if isinstance(doc, dict) else None
    if isinstance(cover, dict):
        cover = cover.get("transforms", cover.get("ids", cover.get("order")))
    if not isinstance(cover, list):
        raise ValueError("has no min_cover list of transforms")
    ids = []
    for entry in cover:
        if isinstance(entry, dict):
            entry = entry.get("id", entry.get("transform"))
        if not isinstance(entry, str):
            raise ValueError("min_cover entries must be transform ids like s256-r1c1")
        ids.append(entry)
    return ids


def parse_transforms(text: str | None, grid: ZoomGrid | None = None) -> list[Zoom]:
    """None -> the zoom-in part of the grid; 's256-r1c1,s384-r0c2' -> those; 'RUN/analysis.json'
    or 'RUN/analysis.json:36' -> that run's greedy min-cover (its first 36)."""
    grid = grid or ZoomGrid()
    if text is None or not text.strip():
        return zoom_in_transforms(grid)
    text = text.strip()
    m = _JSON_SPEC.match(text)
    if m:
        path = Path(m["path"]).expanduser()
        if not path.is_file():
            raise ValueError(f"--transforms {m['path']}: no such file")
        try:
            ids = _cover_ids(json.loads(path.read_text()))
        except (json.JSONDecodeError, ValueError) as e:
            raise ValueError(f"--transforms {m['path']}: {e}") from None
        if m["k"] is not None:
            if int(m["k"]) < 1:
                raise ValueError("--transforms PATH:K needs K >= 1")
            ids = ids[:int(m["k"])]
    else:
        ids = [t for t in text.split(",") if t.strip()]
    zooms = [Zoom.parse(t) for t in ids]
    for z in zooms:
        if not (z.scale >= 1 and 0 <= z.row < grid.rows and 0 <= z.col < grid.cols):
            raise ValueError(f"transform {z.id} is outside the {grid.rows} x {grid.cols} anchor grid")
    if not zooms:
        raise ValueError("--transforms names no transform")
    return list(dict.fromkeys(zooms))  # each once, in the order given


def ensemble(probs: np.ndarray, how: str) -> np.ndarray:
    """(views, classes) -> (classes,): 'mean' or 'max' over views."""
    if how == "mean":
        return probs.mean(axis=0)
    if how == "max":
        return probs.max(axis=0)
    raise ValueError(f"unknown ensemble {how!r}; choose mean or max")
