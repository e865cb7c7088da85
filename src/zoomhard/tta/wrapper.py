"""ZoomTTA: a classifier wrapped in zoom transforms, as an nn.Module for any eval loop.

Each view is one of the study's transforms made on the input's device (crops.tensor_grid_crops:
shorter side resized to the scale with torch's antialiased bicubic, the 3 x 3 anchors of the
resized image, 224 crops filled with black outside it), so a view is the sweep's crop up to
torch's resize against Pillow's. Every scale is resized once per batch and all its views go to
the model together.
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch import nn

from ..crops import tensor_grid_crops
from ..errors import ArgumentError, UsageError
from ..grid import Zoom, ZoomGrid

MERGES = ("mean", "max", "gmean")


def resolve_zooms(zooms, grid: ZoomGrid | None = None) -> tuple[list[Zoom], ZoomGrid]:
    """(the transforms, the grid whose anchors and crop size place them) from transform ids
    ('s256-r1c1,s384-r0c2' or a list), Zoom objects, a ZoomGrid (all of it), an Analysis (its
    greedy min-cover) or 'RUN/analysis.json[:K]'."""
    from .zoom import parse_transforms

    if isinstance(zooms, ZoomGrid):
        return list(zooms), grid or zooms
    grid = grid or ZoomGrid()
    if isinstance(zooms, str):
        return parse_transforms(zooms, grid), grid
    if hasattr(zooms, "min_cover") and not isinstance(zooms, (list, tuple)):
        zooms = zooms.min_cover
    if not isinstance(zooms, Iterable):
        raise ArgumentError(f"zooms is a {type(zooms).__name__}; give transform ids, Zoom objects, a ZoomGrid "
                        "or a min-cover")
    out = [z if isinstance(z, Zoom) else Zoom.parse(str(z)) for z in zooms]
    if not out:
        raise UsageError("zooms names no transform")
    for z in out:
        if not (z.scale >= 1 and 0 <= z.row < grid.rows and 0 <= z.col < grid.cols):
            raise UsageError(f"transform {z.id} is outside the {grid.rows} x {grid.cols} anchor grid")
    return list(dict.fromkeys(out)), grid


class ZoomTTA(nn.Module):
    """`model` seen through zoom transforms, its outputs merged over the views.

        tta = ZoomTTA(model, zooms=run.analyze().min_cover[:36], mean=..., std=...)
        logits = tta(images)          # (n, classes)

    model: a torch module taking normalised NCHW float crops, or a model spec ('lite0'), which
        brings its own normalisation.
    zooms: transform ids, Zoom objects, a ZoomGrid, an Analysis (its min-cover) or
        'RUN/analysis.json:36'.
    merge: 'mean' (the mean of the model's outputs, as ttach's), 'max' (their elementwise max) or
        'gmean' (the geometric mean of the softmax probabilities, returned as its logarithm, so
        that softmax of the output is that normalised mean). argmax and softmax apply to all three.
    mean, std: the model's normalisation in [0, 1] pixel units (torchvision's), required for a
        module (a timm module brings its own).
    grid: the anchors and crop size that place the zooms (default the study's 3 x 3, 224).
    max_batch: crops per model call at most.

    Input: a batch (n, 3, h, w) of one image size, uint8 in 0-255 or float in [0, 1] (what
    torchvision's ToTensor gives), on the model's device; the views are made there.
    """

    def __init__(self, model, zooms, merge: str = "mean", mean=None, std=None, grid: ZoomGrid | None = None,
                 max_batch: int = 256):
        super().__init__()
        if isinstance(model, str):
            from ..models import load_model

            model, own = load_model(model)
            mean, std = mean or own.mean, std or own.std
        if not isinstance(model, nn.Module):
            raise ArgumentError(f"model is a {type(model).__name__}; give a torch.nn.Module or a model spec")
        if merge not in MERGES:
            raise UsageError(f"unknown merge {merge!r}; choose one of: {', '.join(MERGES)}")
        from ..library import module_preprocess

        preprocess = module_preprocess(model, mean, std)
        self.model, self.merge, self.max_batch = model, merge, max(1, int(max_batch))
        self.zooms, self.grid = resolve_zooms(zooms, grid)
        self.register_buffer("shift", torch.tensor(preprocess.mean).view(1, 3, 1, 1) * 255, persistent=False)
        self.register_buffer("scale", torch.tensor(preprocess.std).view(1, 3, 1, 1) * 255, persistent=False)

    def extra_repr(self) -> str:
        return f"zooms={len(self.zooms)} ({', '.join(z.id for z in self.zooms[:4])}{', ...' if len(self.zooms) > 4 else ''}), merge={self.merge!r}"

    def _pixels(self, images: torch.Tensor) -> torch.Tensor:
        if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] != 3:
            shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
            raise UsageError(f"ZoomTTA takes a batch (n, 3, h, w) of images of one size; got {shape}")
        if images.dtype == torch.uint8:
            return images.float()
        if not images.is_floating_point():
            raise UsageError(f"ZoomTTA takes uint8 (0-255) or float ([0, 1]) images, not {images.dtype}")
        if images.numel() and (images.min() < 0 or images.max() > 1):
            raise UsageError("float images must be in [0, 1] (torchvision's ToTensor); pass uint8 for 0-255")
        return images.float() * 255

    def views(self, images: torch.Tensor) -> torch.Tensor:
        """The model's outputs for every view: (len(zooms), n, classes), views in `zooms` order."""
        x = self._pixels(images)
        outputs: list = [None] * len(self.zooms)
        g = self.grid
        for scale in sorted({z.scale for z in self.zooms}):
            picks = [(k, z.row * g.cols + z.col) for k, z in enumerate(self.zooms) if z.scale == scale]
            crops = tensor_grid_crops(x, ZoomGrid((scale,), g.rows, g.cols, g.crop))[[a for _, a in picks]]
            for (k, _), y in zip(picks, self._classify(crops)):
                outputs[k] = y
        return torch.stack(outputs)

    def _classify(self, crops: torch.Tensor) -> torch.Tensor:
        """(v, n, 3, c, c) uint8 -> (v, n, classes), at most max_batch crops per call."""
        v, n = crops.shape[:2]
        flat = crops.reshape(v * n, *crops.shape[2:])
        out = [self.model((flat[i:i + self.max_batch].float() - self.shift) / self.scale)
               for i in range(0, len(flat), self.max_batch)]
        return torch.cat(out).reshape(v, n, -1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return merge_views(self.views(images), self.merge)


def merge_views(outputs: torch.Tensor, merge: str) -> torch.Tensor:
    """(views, n, classes) -> (n, classes) by `merge` (ZoomTTA's doc)."""
    if merge == "mean":
        return outputs.mean(dim=0)
    if merge == "max":
        return outputs.amax(dim=0)
    if merge == "gmean":
        return torch.log_softmax(outputs.float(), dim=-1).mean(dim=0)
    raise UsageError(f"unknown merge {merge!r}; choose one of: {', '.join(MERGES)}")
