"""A predictions table (runs.store.PREDICTIONS) as (images x transforms) matrices, and the
run's images rows in the same order: the one adapter from Arrow to numpy that the analyses,
the report and curate read through.

    codes(): image ids -> (distinct ids, per-row index)   transform_index(): rows -> grid positions
    layout(): both, as a Layout that scatters any column   correctness(): the `correct` matrix
    values(): any column laid out like a Correctness       in_order() / labels(): the images rows
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..grid import Zoom, ZoomGrid


@dataclass(frozen=True)
class Correctness:
    image_ids: list[str]
    zooms: list[Zoom]          # canonical order
    matrix: np.ndarray         # (images, transforms) bool
    observed: np.ndarray       # (images, transforms) bool: False where the table has no row

    def column(self, zoom: Zoom) -> np.ndarray:
        return self.matrix[:, self.zooms.index(zoom)]


@dataclass(frozen=True)
class Layout:
    """Where each row of a predictions table goes in the (images x transforms) matrix."""
    image_ids: list[str]       # first-seen order (see codes)
    image: np.ndarray          # per row: index into image_ids
    transform: np.ndarray      # per row: index into the grid's canonical order
    n_transforms: int

    def scatter(self, values: np.ndarray, fill=0) -> np.ndarray:
        """A per-row column laid out as (images, transforms); `fill` where the table has no row."""
        out = np.full((len(self.image_ids), self.n_transforms), fill, dtype=values.dtype)
        out[self.image, self.transform] = values
        return out


def codes(column: pa.ChunkedArray) -> tuple[list[str], np.ndarray]:
    """(distinct ids, per-row index) of a string column (ids in first-seen order) or of a
    dictionary column (the dictionary's order, which Parquet writes first-seen)."""
    if pa.types.is_dictionary(column.type):
        column = pa.table({"x": column}).unify_dictionaries().column("x")
        chunks = column.chunks
        if not chunks:
            return [], np.zeros(0, np.int32)
        index = np.concatenate([c.indices.to_numpy(zero_copy_only=False) for c in chunks]).astype(np.int32, copy=False)
        ids = chunks[0].dictionary.to_pylist()
        used = np.bincount(index, minlength=len(ids)) > 0
        if used.all():   # the usual case: the dictionary lists each id once, in first-seen order
            return ids, index
        remap = np.cumsum(used, dtype=np.int32) - 1
        return [k for k, u in zip(ids, used) if u], remap[index]
    codes = pc.dictionary_encode(column).combine_chunks()
    return codes.dictionary.to_pylist(), codes.indices.to_numpy(zero_copy_only=False).astype(np.int32, copy=False)


def layout(table: pa.Table, grid: ZoomGrid) -> Layout:
    image_ids, img = codes(table.column("image_id"))
    return Layout(image_ids, img, transform_index(table, grid), len(grid))


def correctness(table: pa.Table, grid: ZoomGrid, lay: Layout | None = None) -> Correctness:
    """The (images x transforms) matrix of `correct`; images in first-seen order. `image_id`
    may be a string or a dictionary column; pass `lay` when it is already known."""
    lay = lay or layout(table, grid)
    matrix = lay.scatter(table.column("correct").to_numpy(zero_copy_only=False).astype(bool), False)
    observed = lay.scatter(np.ones(len(lay.image), bool), False)
    return Correctness(lay.image_ids, list(grid), matrix, observed)


def transform_index(table: pa.Table, grid: ZoomGrid) -> np.ndarray:
    """Each row's transform position in the grid's canonical order."""
    scale_pos = np.full(max(grid.scales) + 1, -1, dtype=np.int32)
    scale_pos[list(grid.scales)] = np.arange(len(grid.scales))
    scale = table.column("scale").to_numpy()
    if len(scale) and (scale.min() < 0 or scale.max() >= len(scale_pos)):
        raise ValueError("the table has scales outside the grid")
    t = scale_pos[scale]
    if len(t) and t.min() < 0:
        raise ValueError("the table has scales outside the grid")
    t *= grid.rows * grid.cols
    t += table.column("row").to_numpy().astype(np.int32) * grid.cols
    t += table.column("col").to_numpy()
    return t


def values(table: pa.Table, c: Correctness, grid: ZoomGrid, column: str, fill=0,
           lay: Layout | None = None) -> np.ndarray:
    """Any numeric column of the table laid out like c.matrix: (images, transforms); rows of
    images that c does not hold are dropped, cells the table lacks hold `fill`."""
    lay = lay or layout(table, grid)
    v = table.column(column).to_numpy(zero_copy_only=False)
    if lay.image_ids == c.image_ids:
        return lay.scatter(v, fill)
    where = {k: i for i, k in enumerate(c.image_ids)}
    to_c = np.array([where.get(k, -1) for k in lay.image_ids], dtype=np.int64)
    img = to_c[lay.image] if len(lay.image) else lay.image
    keep = img >= 0
    out = np.full(c.matrix.shape, fill, dtype=v.dtype)
    out[img[keep], lay.transform[keep]] = v[keep]
    return out


def in_order(images: pa.Table, image_ids: list[str]) -> pa.Table:
    """The images rows (runs.store.IMAGES) of `image_ids`, in their order. Images that have
    predictions but no images row (never written by this version) get an empty label set
    rather than breaking the analysis."""
    order = pc.index_in(pa.array(image_ids, pa.string()), value_set=images.column("image_id"))
    if order.null_count:
        missing = [i for i, o in zip(image_ids, order.to_pylist()) if o is None]
        extra = pa.table({"image_id": missing, "labels": [[] for _ in missing], "origin": [""] * len(missing),
                          "width": [0] * len(missing), "height": [0] * len(missing),
                          "locator": [""] * len(missing)}, schema=images.schema)
        images = pa.concat_tables([images, extra])
        order = pc.index_in(pa.array(image_ids, pa.string()), value_set=images.column("image_id"))
    return images.take(order)


def labels(images: pa.Table) -> list[tuple[int, ...]]:
    """Each images row's acceptable labels, in the table's order."""
    return [tuple(x) for x in images.column("labels").to_pylist()]
