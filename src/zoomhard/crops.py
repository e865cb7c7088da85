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

import contextlib
import functools
import io
import os
import warnings
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageFile, ImageOps

from .errors import ImageDecodeError, TransientImageError, fault_of
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
        raise TransientImageError("file not found") from None
    except MemoryError:
        raise TransientImageError("out of memory while decoding") from None
    except Image.UnidentifiedImageError:
        raise ImageDecodeError("not an image (unrecognised format or empty file)") from None
    except OSError as e:
        if fault_of(e) == "environment":   # the disk's or the system's, not the file's content
            raise TransientImageError(f"I/O error: {e}") from None
        raise ImageDecodeError(f"unreadable image: {e}") from None
    except (ValueError, SyntaxError, EOFError) as e:
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
    """grid_crops on a torch device: (n, crop, crop, 3) uint8 tensor from an (h, w, 3) uint8 array
    (tensor_grid_crops of a batch of one, laid out channels-last by the same copy)."""
    import torch

    src = torch.from_numpy(np.array(rgb, dtype=np.uint8, order="C", copy=not rgb.flags.writeable))
    src = _to_device(src, str(device)).permute(2, 0, 1)[None]
    return _resampled_crops(src, grid, grid.scales if scales is None else scales, channels_last=True)


def tensor_grid_crops(images, grid: ZoomGrid, scales: tuple[int, ...] | None = None):
    """The crops of `grid` (or of some of its scales) of a batch of images of one size, on the
    batch's device: (n, 3, h, w) pixels in 0-255 -> (transforms, n, 3, crop, crop) uint8,
    transforms in canonical order."""
    return _resampled_crops(images, grid, grid.scales if scales is None else scales, channels_last=False)


# Bytes of the horizontal pass's output that one group of scales may take (a bound on memory
# for very large images; an ImageNet photo's 36 scales are one group).
DEVICE_PASS_BYTES = 512 << 20


def _resampled_crops(images, grid: ZoomGrid, scales: tuple[int, ...], channels_last: bool):
    """Pillow's bicubic resize followed by the anchors' zero-filled crops, as two matrix
    products per group of scales on the images' device.

    Pillow resamples in two passes, horizontal then vertical, each a weighted sum of source
    pixels with 22-bit fixed-point weights, rounded to 8 bits between them. A crop needs only
    its own columns of the first pass and its own rows of the second, so each pass is one
    matrix of Pillow's weights for exactly the output pixels the crops hold (a row of zeros
    where a crop falls outside the resized image: the zero fill). With the weights quantised
    as Pillow quantises them and its rounding, all but a few pixels in a million equal the PIL
    path's (the rest are a level apart, where float32 sums land on the other side of a half).
    """
    import torch

    n, _, h0, w0 = images.shape
    c, rows, cols, per = grid.crop, grid.rows, grid.cols, grid.rows * grid.cols
    x = images.to(torch.float32).reshape(n * 3 * h0, w0)
    group = max(1, DEVICE_PASS_BYTES // (n * 3 * h0 * cols * c * 4))
    shape = (len(scales) * per, c, c, 3) if channels_last else (len(scales) * per, n, 3, c, c)
    out = torch.empty(shape, dtype=torch.uint8, device=images.device)
    for g in range(0, len(scales), group):
        part = scales[g:g + group]
        k = len(part)
        wx, wy = _pass_weights(grid, tuple(part), w0, h0, str(images.device))   # (k*cols*c, w0), (k, rows*c, h0)
        with _ieee_matmul(torch):
            wide = _round8(x @ wx.T)                                  # (n*3*h0, k*cols*c)
            wide = wide.view(n * 3, h0, k, cols * c).permute(2, 1, 0, 3).reshape(k, h0, n * 3 * cols * c)
            tall = _round8(torch.bmm(wy, wide)).to(torch.uint8)       # (k, rows*c, n*3*cols*c)
        tall = tall.view(k, rows, c, n, 3, cols, c)
        if channels_last:  # n == 1: (k, rows, cols, y, x, channel)
            crops = tall.permute(0, 1, 5, 3, 2, 6, 4).reshape(k * per, c, c, 3)
        else:              # (k, rows, cols, n, channel, y, x)
            crops = tall.permute(0, 1, 5, 3, 4, 2, 6).reshape(k * per, n, 3, c, c)
        out[g * per:(g + k) * per] = crops
    return out


def _round8(t):
    """Pillow's rounding of a pass's fixed-point sum to 8 bits: half up, clipped to 0-255."""
    return t.add_(0.5).floor_().clamp_(0, 255)


@contextlib.contextmanager
def _ieee_matmul(torch):
    """float32 matrix products in full precision (not TF32) inside the block: a pass's sums
    must be exact to well under half a level."""
    saved = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(saved)


@functools.lru_cache(maxsize=8)
def _pass_weights(grid: ZoomGrid, scales: tuple[int, ...], w0: int, h0: int, device: str):
    """Pillow's weights for the crops' columns (horizontal pass) and rows (vertical pass), kept
    for the last few image sizes (photos of a data set share a few sizes)."""
    import torch

    cols_out, cols_in, rows_out, rows_in = [], [], [], []
    for s in scales:
        W, H = resized_size(w0, h0, s)
        origins = grid.origins(w0, h0, s)
        lefts = [left for _, left, _ in origins[:grid.cols]]
        tops = [top for _, _, top in origins[::grid.cols]]
        cols_out += [np.arange(left, left + grid.crop) for left in lefts]
        cols_in.append(np.full(len(lefts) * grid.crop, W))
        rows_out += [np.arange(top, top + grid.crop) for top in tops]
        rows_in.append(np.full(len(tops) * grid.crop, H))
    wx = _pillow_weights(np.concatenate(cols_out), np.concatenate(cols_in), w0, device)
    wy = _pillow_weights(np.concatenate(rows_out), np.concatenate(rows_in), h0, device)
    return wx, wy.view(len(scales), grid.rows * grid.crop, h0)


def _pillow_weights(out_index: np.ndarray, out_size: np.ndarray, in_size: int, device):
    """(len(out_index), in_size) float32: row i holds Pillow's bicubic weights (Resample.c,
    precompute_coeffs and normalize_coeffs_8bpc) of output pixel out_index[i] of a resize from
    in_size to out_size[i] pixels, or zeros where that pixel lies outside the output."""
    import torch

    f64 = dict(dtype=torch.float64, device=device)
    index, out_size = (_to_device(torch.from_numpy(a.astype(np.float64))[:, None], device)
                       for a in (out_index, out_size))
    scale = in_size / out_size
    filterscale = scale.clamp(min=1.0)
    support = 2.0 * filterscale                       # bicubic's support, widened when reducing
    center = (index + 0.5) * scale
    lo = torch.trunc(center - support + 0.5).clamp(min=0)
    hi = torch.trunc(center + support + 0.5).clamp(max=in_size)
    src = torch.arange(in_size, **f64)[None, :]
    t = ((src - center + 0.5) / filterscale).abs()
    a = -0.5
    w = torch.where(t < 1, ((a + 2) * t - (a + 3)) * t * t + 1,
                    torch.where(t < 2, (((t - 5) * t + 8) * t - 4) * a, torch.zeros_like(t)))
    w = w * ((src >= lo) & (src < hi))
    total = w.sum(dim=1, keepdim=True)
    w = torch.where(total != 0, w / total, w)
    w = torch.where(w < 0, torch.ceil(w * (1 << 22) - 0.5), torch.floor(w * (1 << 22) + 0.5)) / (1 << 22)
    inside = (index >= 0) & (index < out_size)
    return (w * inside).to(torch.float32)


def _to_device(t, device: str):
    """A host tensor on `device` without waiting for the device: from pinned memory, the copy
    queues behind the model's work instead of stalling this thread until it is done."""
    return t.pin_memory().to(device, non_blocking=True) if device.startswith("cuda") else t.to(device)
