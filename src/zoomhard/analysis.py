"""Pure functions over a predictions table (store.PREDICTIONS). Nothing here reads files.

Everything starts from the correctness matrix: one row per image, one column per transform of
the grid in canonical order (scale, row, col), True where that transform's top-1 is right.
50,000 images x 324 transforms is 16 MB of booleans, so every analysis is a numpy reduction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .grid import Zoom, ZoomGrid


@dataclass(frozen=True)
class Correctness:
    image_ids: list[str]
    zooms: list[Zoom]          # canonical order
    matrix: np.ndarray         # (images, transforms) bool
    observed: np.ndarray       # (images, transforms) bool: False where the table has no row

    def column(self, zoom: Zoom) -> np.ndarray:
        return self.matrix[:, self.zooms.index(zoom)]


def correctness(table: pa.Table, grid: ZoomGrid) -> Correctness:
    """The (images x transforms) matrix of `correct`; images in first-seen order."""
    zooms = list(grid)
    per_scale = grid.rows * grid.cols
    scale_pos = np.full(max(grid.scales) + 1, -1, dtype=np.int64)
    scale_pos[list(grid.scales)] = np.arange(len(grid.scales))
    codes = pc.dictionary_encode(table.column("image_id")).combine_chunks()
    image_ids = codes.dictionary.to_pylist()
    img = codes.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    scale = table.column("scale").to_numpy().astype(np.int64)
    row = table.column("row").to_numpy().astype(np.int64)
    col = table.column("col").to_numpy().astype(np.int64)
    if len(scale) and (scale.max() >= len(scale_pos) or (scale_pos[scale] < 0).any()):
        raise ValueError("the table has scales outside the grid")
    t = scale_pos[scale] * per_scale + row * grid.cols + col
    matrix = np.zeros((len(image_ids), len(zooms)), dtype=bool)
    observed = np.zeros_like(matrix)
    matrix[img, t] = table.column("correct").to_numpy(zero_copy_only=False).astype(bool)
    observed[img, t] = True
    return Correctness(image_ids, zooms, matrix, observed)


def standard_top1(c: Correctness, grid: ZoomGrid) -> float:
    """Top-1 of the study's standard crop (s256-r1c1 on the study's grid)."""
    return float(c.column(grid.standard).mean()) if c.image_ids else 0.0


def upper_bound(c: Correctness) -> float:
    """Fraction of images for which at least one transform is correct."""
    return float(c.matrix.any(axis=1).mean()) if c.image_ids else 0.0
