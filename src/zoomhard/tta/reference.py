"""MEMO's AugMix the way its published code makes it: one PIL image at a time.

Per view: RandomResizedCrop(224) + horizontal flip on the PIL image, then three chains of
Pillow operations, each chain converted to a normalised tensor and mixed. It draws its random
numbers with the same `sample_augmix` / `rrc_boxes` as the batched views (one view at a time,
so in another order), and its operations given the same parameters match the batched ones
(exactly for the colour operations, within one level for the geometric ones). It is the
reference the batched operations are tested against and the baseline of benchmarks/tta_speed.py;
nothing on the command line uses it.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageOps

from .views import (AUGMIX_SIZE, OPS, AugMixParams, affine_matrix, posterize_bits, rotate_degrees, rrc_boxes,
                    sample_augmix, solarize_threshold)

_FILL = 128  # as published: Pillow reads it as (128, 0, 0) on RGB images


def pil_op(img: Image.Image, op: int, level: float, sign: int) -> Image.Image:
    """One AugMix operation on a PIL image, with its magnitude given."""
    name = OPS[op]
    if name == "autocontrast":
        return ImageOps.autocontrast(img)
    if name == "equalize":
        return ImageOps.equalize(img)
    if name == "solarize":
        return ImageOps.solarize(img, solarize_threshold(level))
    if name == "posterize":
        return ImageOps.posterize(img, posterize_bits(level))
    if name == "rotate":
        return img.rotate(rotate_degrees(level, sign), resample=Image.BILINEAR, fillcolor=_FILL)
    data = affine_matrix(op, level, sign, *img.size)
    return img.transform((AUGMIX_SIZE, AUGMIX_SIZE), Image.AFFINE, data, resample=Image.BILINEAR, fillcolor=_FILL)


def pil_chains(view: Image.Image, params: AugMixParams) -> list[Image.Image]:
    """The three chains of one view (params of one view: arrays with a leading axis of 1)."""
    out = []
    for j in range(3):
        x = view.copy()
        for d in range(int(params.depth[0, j])):
            x = pil_op(x, int(params.op[0, j, d]), float(params.level[0, j, d]), int(params.sign[0, j, d]))
        out.append(x)
    return out


def _to_tensor(img: Image.Image, mean: np.ndarray, std: np.ndarray) -> torch.Tensor:
    """ToTensor + Normalize."""
    a = np.asarray(img, dtype=np.float32).transpose(2, 0, 1) / 255.0
    return torch.from_numpy((a - mean) / std)


def pil_augmix_view(img: Image.Image, rng: np.random.Generator, mean, std) -> torch.Tensor:
    """One normalised AugMix view (3, 224, 224), made as MEMO's code makes it."""
    mean = np.asarray(mean, dtype=np.float32).reshape(3, 1, 1)
    std = np.asarray(std, dtype=np.float32).reshape(3, 1, 1)
    top, left, h, w = rrc_boxes(rng, img.width, img.height, 1)[0].tolist()
    view = img.crop((left, top, left + w, top + h)).resize((AUGMIX_SIZE, AUGMIX_SIZE), Image.BILINEAR)
    if rng.random() < 0.5:
        view = view.transpose(Image.FLIP_LEFT_RIGHT)
    params = sample_augmix(rng, 1)
    mix = torch.zeros(3, AUGMIX_SIZE, AUGMIX_SIZE)
    for j, chain in enumerate(pil_chains(view, params)):
        mix += float(params.weights[0, j]) * _to_tensor(chain, mean, std)
    m = float(params.mix[0])
    return m * _to_tensor(view, mean, std) + (1 - m) * mix


def pil_augmix_views(img: Image.Image, rng: np.random.Generator, n: int, mean, std) -> torch.Tensor:
    """n views, one after another, stacked: (n, 3, 224, 224)."""
    return torch.stack([pil_augmix_view(img, rng, mean, std) for _ in range(n)])
