"""Decode an image once and cut every crop of a grid from it, as uint8 arrays.

The reference is torchvision's PIL path: Resize(scale, BICUBIC) then functional.crop with zero
padding, and crops equal it exactly. Each scale is resized once, doing only the work its crops
see: Pillow's first pass (horizontal) runs on the source rows the crops' vertical kernels reach,
its second (vertical) on the column strips the crops fall in, and all anchors are cut from that.
Only where even those would be too large to hold (a tall panorama zoomed to 1024, say) Pillow
resamples just the region of each crop (`Image.resize(box=...)`) with the taps it would use on
the full image; its float32 box arithmetic can move a pixel by a level or two, no more.
"""

from __future__ import annotations

import io
import os
import warnings
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageFile, ImageOps

from .errors import ImageDecodeError
from .grid import Zoom, ZoomGrid, resized_size

# Pillow warns between MAX_IMAGE_PIXELS and twice that; we refuse above it ourselves (decode_image).
warnings.simplefilter("ignore", Image.DecompressionBombWarning)
ImageFile.LOAD_TRUNCATED_IMAGES = False

MAX_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485
# Above this many pixels a pass's output is not built (see the module docstring).
FULL_RESIZE_MAX_PIXELS = 16_000_000


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode == "RGB":
        return img
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        # High bit depth grayscale: Pillow's convert() would clip at 255, so rescale instead.
        a = np.asarray(img, dtype=np.float64)
        peak = 65535.0 if a.max(initial=0) > 255 else 255.0
        a = np.clip(a * (255.0 / peak), 0, 255).round().astype(np.uint8)
        return Image.fromarray(a, "L").convert("RGB")
    return img.convert("RGB")


def _check_jpeg_length(img: Image.Image, source) -> None:
    """A baseline JPEG spends at least 2 bits on each 8x8 luma block (a DC code and an end of
    block), so a file shorter than blocks / 4 bytes cannot hold the pixels its header claims:
    libjpeg would fill the rest with grey, at the full size's memory, and raise nothing."""
    if img.format != "JPEG" or "progressive" in img.info or "progression" in img.info:
        return
    try:
        size = len(source) if isinstance(source, (bytes, bytearray)) else os.path.getsize(source)
    except (TypeError, OSError):
        return
    w, h = img.size
    blocks = -(-w // 8) * -(-h // 8)
    if size < blocks // 4:
        raise ImageDecodeError(f"truncated: {size} bytes cannot hold the {w}x{h} pixels the JPEG header claims")


def decode_image(source: str | os.PathLike | bytes | BinaryIO, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Open an image as RGB with its EXIF orientation applied, or raise ImageDecodeError."""
    try:
        fp = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source
        with Image.open(fp) as img:
            w, h = img.size
            if w * h > max_pixels:
                raise ImageDecodeError(f"decompression bomb: {w}x{h} pixels is over the {max_pixels} limit")
            if w < 1 or h < 1:
                raise ImageDecodeError(f"empty image: {w}x{h}")
            _check_jpeg_length(img, source)
            img.load()
            img = ImageOps.exif_transpose(img)
            return _to_rgb(img)
    except ImageDecodeError:
        raise
    except Image.DecompressionBombError as e:
        raise ImageDecodeError(f"decompression bomb: {e}") from None
    except FileNotFoundError:
        raise ImageDecodeError("file not found") from None
    except Image.UnidentifiedImageError:
        raise ImageDecodeError("not an image (unrecognised format or empty file)") from None
    except (OSError, ValueError, SyntaxError, EOFError, MemoryError) as e:
        raise ImageDecodeError(f"unreadable image: {e}") from None


def _merge(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Half-open intervals, empty ones dropped, merged where they touch or overlap."""
    out: list[list[int]] = []
    for a, b in sorted(intervals):
        if a >= b:
            continue
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def _spans(starts: list[int], width: int, size: int) -> list[tuple[int, int]]:
    """The windows [s, s + width), clipped to [0, size) and merged where they touch."""
    return _merge([(max(s, 0), min(s + width, size)) for s in starts])


def _kernel_rows(h0: int, H: int, r0: int, r1: int) -> tuple[int, int]:
    """The source rows [lo, hi) that Pillow's vertical bicubic kernels read for output rows
    [r0, r1) of a resize from height h0 to H (Resample.c, precompute_coeffs), one row wider
    each side so that no rounding of ours can leave one out."""
    scale = h0 / H
    support = 2.0 * max(scale, 1.0)  # bicubic's support, widened by the reduction factor
    lo = int((r0 + 0.5) * scale - support + 0.5)
    hi = int((r1 - 0.5) * scale + support + 0.5)
    return max(lo - 1, 0), min(hi + 1, h0)


def _first_pass(img: Image.Image, W: int, H: int, row_spans: list[tuple[int, int]]) -> Image.Image:
    """Pillow's horizontal pass to width W (height unchanged), computed only on the source rows
    the vertical kernels of `row_spans` reach; the other rows stay black and are never read.

    Each row of the horizontal pass depends on that source row alone, with coefficients that
    depend on the widths only, so resampling a band of rows gives exactly those rows."""
    w0, h0 = img.size
    bands = _merge([_kernel_rows(h0, H, r0, r1) for r0, r1 in row_spans])
    if bands == [(0, h0)]:
        return img.resize((W, h0), Image.BICUBIC)
    wide = Image.new("RGB", (W, h0))
    for a, b in bands:
        wide.paste(img.crop((0, a, w0, b)).resize((W, b - a), Image.BICUBIC), (0, a))
    return wide


def _scale_crops(img: Image.Image, grid: ZoomGrid, scale: int, out: np.ndarray) -> None:
    """Fill out[k] with the k-th anchor crop of one scale (anchors in row, col order)."""
    w0, h0 = img.size
    W, H = resized_size(w0, h0, scale)
    c = grid.crop
    origins = grid.origins(w0, h0, scale)
    col_spans = _spans([left for _, left, _ in origins], c, W)
    if W * h0 <= FULL_RESIZE_MAX_PIXELS and max(b - a for a, b in col_spans) * H <= FULL_RESIZE_MAX_PIXELS:
        # Pillow resamples in two passes, horizontal then vertical, rounding to 8 bits between
        # them. Running the passes one at a time gives the same pixels; the first runs only on
        # the source rows the crops' rows need, and the second, whose columns are independent,
        # only on the column strips under the crops. Outside the image the crops keep out's zeros.
        wide = _first_pass(img, W, H, _spans([top for _, _, top in origins], c, H))
        for a, b in col_spans:
            part = wide if (a, b) == (0, W) else wide.crop((a, 0, b, h0))
            strip = np.asarray(part.resize((b - a, H), Image.BICUBIC))
            for k, (_, left, top) in enumerate(origins):
                x0, x1, y0, y1 = max(left, a), min(left + c, b), max(top, 0), min(top + c, H)
                if x0 < x1 and y0 < y1:
                    out[k, y0 - top:y1 - top, x0 - left:x1 - left] = strip[y0:y1, x0 - a:x1 - a]
        return
    sx, sy = w0 / W, h0 / H
    for k, (_, left, top) in enumerate(origins):
        x0, y0, x1, y1 = max(left, 0), max(top, 0), min(left + c, W), min(top + c, H)
        if x0 < x1 and y0 < y1:
            box = (x0 * sx, y0 * sy, min(x1 * sx, w0), min(y1 * sy, h0))
            part = img.resize((x1 - x0, y1 - y0), Image.BICUBIC, box=box)
            out[k, y0 - top:y1 - top, x0 - left:x1 - left] = np.asarray(part)


def grid_crops(img: Image.Image, grid: ZoomGrid, scales: tuple[int, ...] | None = None) -> np.ndarray:
    """All crops of `grid` (or of some of its scales) in canonical order: (n, crop, crop, 3) uint8."""
    scales = grid.scales if scales is None else scales
    per = grid.rows * grid.cols
    out = np.zeros((len(scales) * per, grid.crop, grid.crop, 3), dtype=np.uint8)
    for i, s in enumerate(scales):
        _scale_crops(img, grid, s, out[i * per:(i + 1) * per])
    return out


def zoom_crops(img, zooms: list[Zoom], grid: ZoomGrid, crop_fn=grid_crops):
    """The crops of `zooms`, in that order: each scale they use resized once. `crop_fn` is
    grid_crops, or device_grid_crops bound to a device (its `img` an RGB array then)."""
    scales = sorted({z.scale for z in zooms})
    per = grid.rows * grid.cols
    crops = crop_fn(img, grid, tuple(scales))
    return crops[[scales.index(z.scale) * per + z.row * grid.cols + z.col for z in zooms]]


def zoom_crop(img: Image.Image, zoom: Zoom, grid: ZoomGrid | None = None) -> np.ndarray:
    """One crop, (crop, crop, 3) uint8: for figures and galleries."""
    grid = grid or ZoomGrid(scales=(zoom.scale,))
    k = zoom.row * grid.cols + zoom.col
    return grid_crops(img, grid, scales=(zoom.scale,))[k]


def device_grid_crops(rgb: np.ndarray, grid: ZoomGrid, device: str = "cuda",
                      scales: tuple[int, ...] | None = None):
    """grid_crops on a torch device: (n, crop, crop, 3) uint8 tensor from an (h, w, 3) uint8 array,
    cut channels-last straight from each resized scale (no transposing copy of the crops)."""
    import torch

    src = torch.from_numpy(np.array(rgb, dtype=np.uint8, order="C", copy=not rgb.flags.writeable))
    if str(device).startswith("cuda"):
        src = src.pin_memory()
    src = src.to(device, non_blocking=True).permute(2, 0, 1)[None].float()
    scales = grid.scales if scales is None else scales
    per = grid.rows * grid.cols
    out = torch.empty((len(scales) * per, grid.crop, grid.crop, 3), dtype=torch.uint8, device=src.device)
    for i, (s, resized) in enumerate(_resized(src, scales)):
        _anchor_crops(resized[0].permute(1, 2, 0), grid, src.shape[3], src.shape[2], s, (0, 1),
                      out[i * per:(i + 1) * per])
    return out


def tensor_grid_crops(images, grid: ZoomGrid, scales: tuple[int, ...] | None = None):
    """The crops of `grid` (or of some of its scales) of a batch of images of one size, on the
    batch's device: (n, 3, h, w) float pixels in 0-255 -> (transforms, n, 3, crop, crop) uint8,
    transforms in canonical order.

    torch's antialiased bicubic uses Pillow's filter. Resampling in Pillow's two passes,
    horizontal then vertical, each rounded to 8 bits as Pillow does, lands all but about one
    pixel in 10,000 on the PIL path's exact value (and those within one level).
    """
    import torch

    scales = grid.scales if scales is None else scales
    n, _, h0, w0 = images.shape
    c, per = grid.crop, grid.rows * grid.cols
    out = torch.empty((len(scales) * per, n, 3, c, c), dtype=torch.uint8, device=images.device)
    for i, (s, resized) in enumerate(_resized(images, scales)):
        _anchor_crops(resized, grid, w0, h0, s, (-2, -1), out[i * per:(i + 1) * per])
    return out


def _resized(images, scales: tuple[int, ...]):
    """(scale, (n, 3, H, W) uint8) for each scale of a (n, 3, h, w) float batch: Pillow's two
    passes, each rounded to 8 bits."""
    import torch
    import torch.nn.functional as F

    h0, w0 = images.shape[-2:]
    for s in scales:
        W, H = resized_size(w0, h0, s)
        wide = F.interpolate(images, size=(h0, W), mode="bicubic", antialias=True).round_().clamp_(0, 255)
        resized = F.interpolate(wide, size=(H, W), mode="bicubic", antialias=True).round_().clamp_(0, 255)
        yield s, resized.to(torch.uint8)


def _anchor_crops(resized, grid: ZoomGrid, w0: int, h0: int, scale: int, dims: tuple[int, int], out) -> None:
    """Every anchor crop of one resized scale into `out` (one per anchor, in row, col order):
    the image is zero-padded once so that every crop is a plain window of it, and the windows
    are stacked by one copy. `dims`: the (height, width) dimensions of `resized`."""
    import torch
    import torch.nn.functional as F

    c = grid.crop
    H, W = resized.shape[dims[0]], resized.shape[dims[1]]
    origins = grid.origins(w0, h0, scale)
    tops, lefts = [t for _, _, t in origins], [l for _, l, _ in origins]
    pad_t, pad_l = max(0, -min(tops)), max(0, -min(lefts))
    pad_b, pad_r = max(0, max(tops) + c - H), max(0, max(lefts) + c - W)
    # F.pad pads the last dimensions first: (width, height) here, or (channels, width, height)
    pad = (pad_l, pad_r, pad_t, pad_b) if dims == (-2, -1) else (0, 0, pad_l, pad_r, pad_t, pad_b)
    padded = F.pad(resized, pad) if any(pad) else resized
    torch.stack([padded.narrow(dims[0], t + pad_t, c).narrow(dims[1], l + pad_l, c) for t, l in zip(tops, lefts)],
                out=out)
