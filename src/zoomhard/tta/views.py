"""Random views of one image for test-time adaptation, made in a batch on tensors.

Every random number comes from a numpy Generator that belongs to one image (see `image_rng`), so
a view's parameters depend on the seed, the image id and its index alone: not on the device, the
batch or the other images. The pixels are computed with torch on whatever device the image
tensor is on (on CPU in uint8 as Pillow computes them, elsewhere in float: a level apart here
and there).

Two kinds of views:

- `rrc_views`: RandomResizedCrop as torchvision samples it (scale, log-uniform aspect ratio,
  ten tries, then a centre crop), resized with antialiasing as Pillow does (see
  `resized_crops`); optionally flipped.
- `augmix_views`: MEMO's AugMix (Hendrycks et al. 2020, as MEMO's ImageNet code uses it):
  RandomResizedCrop 224 + horizontal flip, then 3 chains of 1-3 operations at severity 1,
  Dirichlet(1, 1, 1) chain weights and a Beta(1, 1) mix with the un-augmented view. The nine
  operations act on uint8 pixels exactly as Pillow's do (lookup tables for the colour ones,
  Pillow's affine sampling rule for the geometric ones), batched over views and chains.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

RATIO = (3 / 4, 4 / 3)
OPS = ("autocontrast", "equalize", "rotate", "solarize", "shear_x", "shear_y",
       "translate_x", "translate_y", "posterize")
_COLOUR_OPS = (0, 1, 3, 8)
# AugMix pads geometric operations with Pillow's fillcolor=128, which Pillow reads as the packed
# RGB integer 128, i.e. (128, 0, 0). Kept as published.
FILL = (128.0, 0.0, 0.0)
AUGMIX_SIZE = 224  # the published operations hard-code 224 x 224 outputs and 224 / 3 translations


def image_rng(seed: int, image_id: str) -> np.random.Generator:
    """The random stream of one image: a function of (seed, image id) only."""
    digest = hashlib.sha256(f"{int(seed)}\0{image_id}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "little"))


def rrc_boxes(rng: np.random.Generator, width: int, height: int, n: int,
              scale: tuple[float, float] = (0.08, 1.0), ratio: tuple[float, float] = RATIO) -> np.ndarray:
    """(n, 4) int boxes (top, left, h, w), torchvision's RandomResizedCrop.get_params rule."""
    area = width * height
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    out = np.empty((n, 4), dtype=np.int64)
    for k in range(n):
        for _ in range(10):
            target = area * rng.uniform(scale[0], scale[1])
            aspect = math.exp(rng.uniform(log_ratio[0], log_ratio[1]))
            w = int(round(math.sqrt(target * aspect)))
            h = int(round(math.sqrt(target / aspect)))
            if 0 < w <= width and 0 < h <= height:
                top = int(rng.integers(0, height - h + 1))
                left = int(rng.integers(0, width - w + 1))
                out[k] = (top, left, h, w)
                break
        else:  # the fallback: a centre crop clamped to the allowed aspect ratios
            in_ratio = width / height
            if in_ratio < ratio[0]:
                w, h = width, int(round(width / ratio[0]))
            elif in_ratio > ratio[1]:
                h, w = height, int(round(height * ratio[1]))
            else:
                w, h = width, height
            out[k] = ((height - h) // 2, (width - w) // 2, h, w)
    return out


def resized_crops(image: torch.Tensor, boxes: np.ndarray, size: int, interpolation: str) -> torch.Tensor:
    """uint8 (3, H, W) -> uint8 (n, 3, size, size): each box resized with antialiasing.

    Each box has its own size, so each is one interpolate call; everything after is batched.
    On CPU the box is resized as uint8: torch's uint8 antialiased kernels are Pillow's
    fixed-point filters (the authors' views were Pillow's; this path differs from Pillow on
    about 0.3 % of pixels, the float one on about 15 %), about twice as fast, and spare
    converting a box of up to the whole image to float per view (1.1 s of a 16-view batch
    on a 12 MP photo). Other devices have no uint8 kernels and take the float path.
    """
    out = torch.empty((len(boxes), 3, size, size), dtype=torch.uint8, device=image.device)
    in_uint8 = image.device.type == "cpu" and image.dtype == torch.uint8
    for k, (top, left, h, w) in enumerate(boxes.tolist()):
        part = image[None, :, top:top + h, left:left + w]
        if in_uint8:
            out[k] = F.interpolate(part, size=(size, size), mode=interpolation, align_corners=False, antialias=True)[0]
            continue
        y = F.interpolate(part.float(), size=(size, size), mode=interpolation, align_corners=False, antialias=True)
        out[k] = y[0].round_().clamp_(0, 255).to(torch.uint8)
    return out


def rrc_views(image: torch.Tensor, rng: np.random.Generator, n: int, size: int = 224,
              scale: tuple[float, float] = (0.08, 1.0), interpolation: str = "bicubic",
              flip: bool = False) -> torch.Tensor:
    """n RandomResizedCrop views of a uint8 (3, H, W) image: uint8 (n, 3, size, size)."""
    _, height, width = image.shape
    views = resized_crops(image, rrc_boxes(rng, width, height, n, scale), size, interpolation)
    if flip:
        flips = torch.from_numpy(rng.random(n) < 0.5).to(image.device)
        views = torch.where(flips.view(-1, 1, 1, 1), views.flip(-1), views)
    return views


# -- AugMix ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AugMixParams:
    """The random choices of n AugMix views (chains = 3, depth up to 3): plain arrays."""

    weights: np.ndarray   # (n, 3) float32 Dirichlet(1, 1, 1) chain weights
    mix: np.ndarray       # (n,) float32 Beta(1, 1) weight of the un-augmented view
    depth: np.ndarray     # (n, 3) operations per chain, 1-3
    op: np.ndarray        # (n, 3, 3) index into OPS per chain step
    level: np.ndarray     # (n, 3, 3) uniform(0.1, severity) per chain step
    sign: np.ndarray      # (n, 3, 3) +1 or -1 per chain step

    def view(self, k: int) -> "AugMixParams":
        return AugMixParams(*(a[k:k + 1] for a in (self.weights, self.mix, self.depth, self.op, self.level, self.sign)))


def sample_augmix(rng: np.random.Generator, n: int, severity: float = 1.0) -> AugMixParams:
    return AugMixParams(
        weights=rng.dirichlet([1.0, 1.0, 1.0], size=n).astype(np.float32),
        mix=rng.beta(1.0, 1.0, size=n).astype(np.float32),
        depth=rng.integers(1, 4, size=(n, 3)),
        op=rng.integers(0, len(OPS), size=(n, 3, 3)),
        level=rng.uniform(0.1, severity, size=(n, 3, 3)),
        sign=np.where(rng.random((n, 3, 3)) > 0.5, -1, 1),
    )


# The published magnitudes at a level in (0.1, severity]: ints truncate as Python's int() does.
def rotate_degrees(level: float, sign: int) -> int:
    return sign * int(level * 30 / 10)


def solarize_threshold(level: float) -> int:
    return 256 - int(level * 256 / 10)


def shear_amount(level: float, sign: int) -> float:
    return sign * float(level) * 0.3 / 10


def translate_pixels(level: float, sign: int) -> int:
    return sign * int(level * (AUGMIX_SIZE / 3) / 10)


def posterize_bits(level: float) -> int:
    return 4 - int(level * 4 / 10)


def affine_matrix(op: int, level: float, sign: int, width: int, height: int) -> tuple[float, ...]:
    """Pillow's AFFINE data (a, b, c, d, e, f): output pixel centre (x, y) samples the input at
    (a x + b y + c, d x + e y + f)."""
    name = OPS[op]
    if name == "rotate":  # Image.rotate: counter-clockwise about the centre
        angle = -math.radians(rotate_degrees(level, sign) % 360.0)
        a, b = round(math.cos(angle), 15), round(math.sin(angle), 15)
        d, e = round(-math.sin(angle), 15), round(math.cos(angle), 15)
        cx, cy = width / 2.0, height / 2.0
        return a, b, a * -cx + b * -cy + cx, d, e, d * -cx + e * -cy + cy
    if name == "shear_x":
        return 1.0, shear_amount(level, sign), 0.0, 0.0, 1.0, 0.0
    if name == "shear_y":
        return 1.0, 0.0, 0.0, shear_amount(level, sign), 1.0, 0.0
    if name == "translate_x":
        return 1.0, 0.0, float(translate_pixels(level, sign)), 0.0, 1.0, 0.0
    if name == "translate_y":
        return 1.0, 0.0, 0.0, 0.0, 1.0, float(translate_pixels(level, sign))
    raise ValueError(f"{name} is not a geometric operation")


def _autocontrast_lut(hist: torch.Tensor) -> torch.Tensor:
    """ImageOps.autocontrast (cutoff 0): per channel, lo..hi -> 0..255 with int() truncation."""
    levels = torch.arange(256, device=hist.device, dtype=torch.float64)
    present = hist > 0
    lo = torch.where(present, levels, torch.inf).amin(-1, keepdim=True)
    hi = torch.where(present, levels, -torch.inf).amax(-1, keepdim=True)
    flat = hi <= lo
    scale = 255.0 / torch.where(flat, 1.0, hi - lo)
    lut = (levels * scale + (-lo * scale)).trunc().clamp(0, 255)
    return torch.where(flat, levels, lut).long()


def _equalize_lut(hist: torch.Tensor) -> torch.Tensor:
    """ImageOps.equalize: lut[i] = (step // 2 + sum(h[:i])) // step, step = (n - h[last]) // 255."""
    levels = torch.arange(256, device=hist.device)
    last = torch.where(hist > 0, levels, -1).amax(-1, keepdim=True)
    step = (hist.sum(-1, keepdim=True) - hist.gather(-1, last.clamp(min=0))) // 255
    before = hist.cumsum(-1) - hist
    lut = torch.div(step // 2 + before, step.clamp(min=1), rounding_mode="floor").clamp(max=255)
    keep = (step == 0) | ((hist > 0).sum(-1, keepdim=True) <= 1)
    return torch.where(keep, levels.expand_as(lut), lut)


def _apply_colour(x: torch.Tensor, ops: np.ndarray, levels: np.ndarray) -> torch.Tensor:
    """The colour operations on uint8 (b, 3, h, w), one per image, in place: solarize and
    posterize as uint8 arithmetic over the batch, autocontrast and equalize by per-channel
    lookup tables."""
    x = x.contiguous()
    dev = x.device
    solarize = ops == 3
    if solarize.any():  # thresholds are 231-254, so uint8 holds them; other rows are left alone
        thr = torch.tensor([solarize_threshold(v) if o == 3 else 255 for o, v in zip(ops, levels)],
                           dtype=torch.uint8, device=dev).view(-1, 1, 1, 1)
        flip = (x >= thr) & torch.as_tensor(solarize, device=dev).view(-1, 1, 1, 1)
        x = torch.where(flip, 255 - x, x)
    if (ops == 8).any():
        masks = torch.tensor([~(2 ** (8 - posterize_bits(v)) - 1) & 0xFF if o == 8 else 0xFF for o, v in zip(ops, levels)],
                             dtype=torch.uint8, device=dev).view(-1, 1, 1, 1)
        x = x & masks
    by_table = np.flatnonzero(np.isin(ops, (0, 1)))
    if len(by_table):
        sel = torch.as_tensor(by_table, device=dev)
        part = x[sel]
        k = len(by_table)
        # One flat index serves both the histograms and the table lookup.
        idx = (part.reshape(k, 3, -1).long() + (torch.arange(k * 3, device=dev) * 256).view(k, 3, 1)).reshape(-1)
        hist = torch.bincount(idx, minlength=k * 3 * 256).view(k, 3, 256)
        kind = torch.as_tensor(ops[by_table], device=dev).view(-1, 1, 1)
        luts = torch.where(kind == 0, _autocontrast_lut(hist), _equalize_lut(hist)).to(torch.uint8)
        x[sel] = luts.reshape(-1)[idx].view(part.shape)
    return x


def _apply_affine(x: torch.Tensor, matrices: np.ndarray) -> torch.Tensor:
    """Pillow's bilinear affine transform with a fill colour, batched: a pixel whose centre maps
    outside the input takes FILL; inside, bilinear with the edge clamped; truncated to uint8."""
    b, _, h, w = x.shape
    m = torch.as_tensor(matrices, dtype=torch.float32, device=x.device).view(b, 6, 1, 1)
    ys = (torch.arange(h, device=x.device, dtype=torch.float32) + 0.5).view(1, h, 1)
    xs = (torch.arange(w, device=x.device, dtype=torch.float32) + 0.5).view(1, 1, w)
    sx = m[:, 0] * xs + m[:, 1] * ys + m[:, 2]         # (b, h, w) input coordinates (pixel centres)
    sy = m[:, 3] * xs + m[:, 4] * ys + m[:, 5]
    inside = (sx >= 0) & (sx < w) & (sy >= 0) & (sy < h)
    # Clamping the sample point to the outer pixel centres is Pillow's edge clamp, so zero
    # padding (the fast path of grid_sample) never takes part.
    grid = torch.stack([(2 / w) * sx.clamp(0.5, w - 0.5) - 1, (2 / h) * sy.clamp(0.5, h - 0.5) - 1], -1)
    y = F.grid_sample(x.float(), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    fill = torch.tensor(FILL, device=x.device).view(1, 3, 1, 1)
    y = torch.where(inside.unsqueeze(1), y, fill)
    # Pillow truncates; the epsilon keeps float32 rounding from turning 100 into 99.
    return y.add_(1e-3).clamp_(0, 255).to(torch.uint8)


def _shift(img: torch.Tensor, pixels: int, axis: int) -> torch.Tensor:
    """Pillow's AFFINE translation by a whole number of pixels on uint8 (3, h, w): the output at
    x samples the input at x + pixels; what falls outside is FILL."""
    out = torch.empty_like(img)
    out[:] = torch.tensor(FILL, device=img.device).to(torch.uint8).view(3, 1, 1)
    size = img.shape[axis]
    if abs(pixels) >= size:
        return out
    if pixels >= 0:
        out.narrow(axis, 0, size - pixels).copy_(img.narrow(axis, pixels, size - pixels))
    else:
        out.narrow(axis, -pixels, size + pixels).copy_(img.narrow(axis, 0, size + pixels))
    return out


def augmix_chains(views: torch.Tensor, params: AugMixParams) -> torch.Tensor:
    """uint8 (n, 3, h, w) views -> uint8 (n, 3 chains, 3, h, w): every chain's operations applied.

    Chains of all views form one batch; at each depth, the images whose chain is still running
    get their operation: colour ones in one lookup pass, geometric ones in one grid_sample.
    """
    n, _, h, w = views.shape
    x = views.repeat_interleave(3, dim=0)               # (n*3, 3, h, w): view k, chain j at k*3+j
    depth = params.depth.reshape(-1)
    ops = params.op.reshape(n * 3, 3)
    levels = params.level.reshape(n * 3, 3)
    signs = params.sign.reshape(n * 3, 3)
    for d in range(3):
        running = depth > d
        colour_rows = np.flatnonzero(running & np.isin(ops[:, d], _COLOUR_OPS))
        if len(colour_rows):
            rows = torch.as_tensor(colour_rows, device=x.device)
            x[rows] = _apply_colour(x[rows], ops[colour_rows, d], levels[colour_rows, d])
        # Whole-pixel shifts copy pixels exactly (Pillow samples pixel centres): slices, no resampling.
        for i in np.flatnonzero(running & np.isin(ops[:, d], (6, 7))):
            x[i] = _shift(x[i], translate_pixels(levels[i, d], signs[i, d]), axis=2 if ops[i, d] == 6 else 1)
        # Rotations by int(level * 3) degrees are often 0 degrees, which Pillow returns unchanged.
        resample = running & np.isin(ops[:, d], (2, 4, 5))
        resample &= ~((ops[:, d] == 2) & (np.array([rotate_degrees(v, 1) for v in levels[:, d]]) == 0))
        aff_rows = np.flatnonzero(resample)
        if len(aff_rows):
            rows = torch.as_tensor(aff_rows, device=x.device)
            mats = np.array([affine_matrix(int(ops[i, d]), float(levels[i, d]), int(signs[i, d]), w, h)
                             for i in aff_rows])
            x[rows] = _apply_affine(x[rows], mats)
    return x.view(n, 3, 3, h, w)


def augmix_mix(views: torch.Tensor, chains: torch.Tensor, params: AugMixParams,
               mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """MEMO's mixing, m * norm(view) + (1 - m) * sum_j w_j * norm(chain_j), computed as
    norm(m * view + (1 - m) * sum_j w_j * chain_j): the same, since the weights sum to 1."""
    n = views.shape[0]
    dev = views.device
    w = torch.as_tensor(params.weights, device=dev)
    m = torch.as_tensor(params.mix, device=dev).view(-1, 1)
    coef = torch.cat([m, (1 - m) * w], 1).view(n, 1, 4)          # view, chain 0, 1, 2
    pixels = torch.cat([views.unsqueeze(1), chains], 1).reshape(n, 4, -1).float()
    raw = torch.bmm(coef, pixels).view(views.shape)               # 0..255
    return raw.mul_(1 / (255 * std)).sub_(mean / std)


def augmix_views(image: torch.Tensor, rng: np.random.Generator, n: int, mean: torch.Tensor,
                 std: torch.Tensor, size: int = AUGMIX_SIZE) -> torch.Tensor:
    """n MEMO AugMix views of a uint8 (3, H, W) image, normalised float (n, 3, size, size).

    mean and std: (1, 3, 1, 1) tensors in [0, 1] units, on the image's device.
    """
    base = rrc_views(image, rng, n, size, interpolation="bilinear", flip=True)
    params = sample_augmix(rng, n)
    return augmix_mix(base, augmix_chains(base, params), params, mean, std)
