"""A sweep's results as the run folder's rows: logits scored into a ScoredImage, finished
images into a predictions part and an images part (runs.store.PREDICTIONS and IMAGES)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ..grid import ZoomGrid
from ..pipeline import ImageCrops, ScoredImage
from ..protocols import ClassSpace, score
from ..runs.store import IMAGES, PREDICTIONS


def scored(im: ImageCrops, space: ClassSpace) -> ScoredImage:
    """An image whose logits are all known, scored in the run's class space."""
    return ScoredImage(im.item, im.size, score(im.logits, im.item.labels, space.allowed, space.groups), im.zooms)


def prediction_tables(images: list[ScoredImage], grid: ZoomGrid) -> tuple[pa.Table, pa.Table]:
    """Rows for finished images (several entries may share an image under --until-correct)."""
    full = list(grid)
    zooms = [z for im in images for z in (im.zooms or full)]
    counts = [len(im.zooms or full) for im in images]
    cat = {k: np.concatenate([im.scores[k] for im in images]) for k in images[0].scores}
    predictions = pa.table({
        "image_id": pa.array(np.repeat([im.item.image_id for im in images], counts)),
        "scale": np.array([z.scale for z in zooms], np.int16),
        "row": np.array([z.row for z in zooms], np.int8),
        "col": np.array([z.col for z in zooms], np.int8),
        "top1": cat["top1"].astype(np.int16),
        "correct": cat["correct"],
        "top5": pa.FixedSizeListArray.from_arrays(cat["top5"].astype(np.int16).ravel(), 5).cast(pa.list_(pa.int16())),
        "top5_prob": pa.FixedSizeListArray.from_arrays(cat["top5_prob"].astype(np.float32).ravel(), 5)
                       .cast(pa.list_(pa.float32())),
        "label_prob": cat["label_prob"].astype(np.float32),
    }, schema=PREDICTIONS)
    unique: dict[str, ScoredImage] = {}
    for im in images:
        unique.setdefault(im.item.image_id, im)
    images = list(unique.values())
    meta = pa.table({
        "image_id": [im.item.image_id for im in images],
        "labels": [list(im.item.labels) for im in images],
        "origin": [im.item.origin for im in images],
        "width": [im.size[0] for im in images],
        "height": [im.size[1] for im in images],
        "locator": [im.item.locator for im in images],
    }, schema=IMAGES)
    return predictions, meta
