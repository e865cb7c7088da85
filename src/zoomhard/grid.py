"""Zoom transforms as plain data, and the pure geometry that places them on an image.

A transform resizes the image so that its shorter side is `scale` (the longer side becomes
int(scale * long / short), as torchvision's Resize does), then cuts a `crop` x `crop` square
centred on one anchor of a rows x cols grid laid over the *resized* image. Pixels outside the
resized image are black, so scales below the crop size show a small image on a black canvas.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator

from .errors import UsageError

# The study's 36 scales (its list had 10 twice; the duplicate is dropped).
STUDY_SCALES: tuple[int, ...] = (
    10, 16, 32, 48, 64, 96, 122, 128, 192, 224, 235, 240, 256, 288, 320, 348, 384, 448,
    460, 512, 573, 576, 640, 664, 672, 680, 686, 690, 700, 720, 768, 798, 832, 896, 911, 1024,
)
# The same scales in the order of the study's own list (eval-IN-trained.py: 27 listed, then
# linspace(10, 1024, 10)): its results, and so its greedy cover's ties, follow this order.
STUDY_SCALE_ORDER: tuple[int, ...] = (
    10, 16, 32, 48, 64, 96, 128, 192, 224, 240, 256, 288, 320, 384, 448, 512, 576, 640, 664, 672,
    680, 690, 700, 720, 768, 832, 896, 122, 235, 348, 460, 573, 686, 798, 911, 1024,
)
STANDARD_SCALE = 256  # the study's "1 crop": s256 at the centre anchor
CROP_SIZE = 224
# Bounds of a grid. A scale is stored as int16 and an anchor's row/col as int8 in a run folder;
# a scale of 8192 already resizes a 4:3 photo to 270 MB per decode worker (the study's largest
# is 1024), and a crop of 4096 makes a 64-crop float32 batch of 13 GB.
MAX_SCALE = 8192
MAX_ANCHORS = 15             # per side: 15 x 15 anchors x each scale
MIN_CROP, MAX_CROP = 8, 4096

_ID = re.compile(r"^s(\d+)-r(\d+)c(\d+)$")


@dataclass(frozen=True, order=True)
class Zoom:
    """One transform. Ordering is the canonical one: scale, then row (top first), then col."""

    scale: int
    row: int
    col: int

    @property
    def id(self) -> str:
        return f"s{self.scale}-r{self.row}c{self.col}"

    def __str__(self) -> str:
        return self.id

    @classmethod
    def parse(cls, text: str) -> "Zoom":
        m = _ID.match(text.strip())
        if not m:
            raise UsageError(f"not a transform id: {text!r} (expected e.g. s256-r1c1)")
        return cls(*(int(g) for g in m.groups()))


def resized_size(width: int, height: int, scale: int) -> tuple[int, int]:
    """(width, height) after resizing the shorter side to `scale`, as torchvision's Resize(int)."""
    if width <= height:
        return scale, int(scale * height / width)
    return int(scale * width / height), scale


def anchor(width: int, height: int, row: int, col: int, rows: int = 3, cols: int = 3) -> tuple[int, int]:
    """(x, y) of the anchor at (row, col) on an image of the given (resized) size.

    The study's rule, integer division throughout: tile = size // n, anchor = i * tile + tile // 2.
    """
    tile_x, tile_y = width // cols, height // rows
    return col * tile_x + tile_x // 2, row * tile_y + tile_y // 2


@dataclass(frozen=True)
class CropBox:
    """Where one transform's crop lies: the square [left, right) x [top, bottom) on the image
    resized to the transform's scale (`width` x `height`), in that image's pixels. It may reach
    past the resized image: that part of the crop is black."""

    left: int
    top: int
    right: int
    bottom: int
    width: int
    height: int

    @property
    def beyond(self) -> bool:
        """Whether the crop reaches past the resized image (black there)."""
        return self.left < 0 or self.top < 0 or self.right > self.width or self.bottom > self.height

    def on_original(self, width: int, height: int) -> tuple[float, float, float, float]:
        """(left, top, width, height) of the crop in the pixels of the original `width` x `height`
        image it was resized from."""
        sx, sy = width / self.width, height / self.height
        return self.left * sx, self.top * sy, (self.right - self.left) * sx, (self.bottom - self.top) * sy

    @classmethod
    def of(cls, width: int, height: int, zoom: Zoom, crop: int = CROP_SIZE, rows: int = 3, cols: int = 3) -> "CropBox":
        """The crop of `zoom` on an image of the given *original* size: a `crop`-sized square
        centred on its anchor over the resized image."""
        w, h = resized_size(width, height, zoom.scale)
        x, y = anchor(w, h, zoom.row, zoom.col, rows, cols)
        left, top = x - crop // 2, y - crop // 2
        return cls(left, top, left + crop, top + crop, w, h)


def crop_origin(width: int, height: int, zoom: Zoom, crop: int = CROP_SIZE,
                rows: int = 3, cols: int = 3) -> tuple[int, int]:
    """(left, top) of the crop for `zoom` on an image of the given *original* size.

    May be negative or run past the resized image: that part of the crop is black.
    """
    box = CropBox.of(width, height, zoom, crop, rows, cols)
    return box.left, box.top


@dataclass(frozen=True)
class ZoomGrid:
    """The product scales x rows x cols, in canonical order. The study's grid is `ZoomGrid()`."""

    scales: tuple[int, ...] = STUDY_SCALES
    rows: int = 3
    cols: int = 3
    crop: int = CROP_SIZE

    def __post_init__(self) -> None:
        from .checks import whole

        if isinstance(self.scales, (str, bytes)) or not hasattr(self.scales, "__iter__"):
            raise UsageError(f"scales {self.scales!r}: give a list of whole numbers from 1 to {MAX_SCALE}")
        scales = tuple(sorted(set(whole("scale", s, 1, MAX_SCALE) for s in self.scales)))
        if not scales:
            raise UsageError("a grid needs at least one scale; give e.g. scales 224,256,384 or 'study'")
        object.__setattr__(self, "scales", scales)
        object.__setattr__(self, "rows", whole("anchors (rows)", self.rows, 1, MAX_ANCHORS))
        object.__setattr__(self, "cols", whole("anchors (cols)", self.cols, 1, MAX_ANCHORS))
        object.__setattr__(self, "crop", whole("crop", self.crop, MIN_CROP, MAX_CROP))

    def __len__(self) -> int:
        return len(self.scales) * self.rows * self.cols

    def __iter__(self) -> Iterator[Zoom]:
        for s in self.scales:
            for r in range(self.rows):
                for c in range(self.cols):
                    yield Zoom(s, r, c)

    def __contains__(self, zoom: object) -> bool:
        return (isinstance(zoom, Zoom) and zoom.scale in self.scales
                and 0 <= zoom.row < self.rows and 0 <= zoom.col < self.cols)

    @property
    def zooms(self) -> list[Zoom]:
        return list(self)

    @property
    def standard(self) -> Zoom:
        """The study's standard crop: scale 256 (or the nearest scale) at the centre anchor."""
        scale = min(self.scales, key=lambda s: (abs(s - STANDARD_SCALE), s))
        return Zoom(scale, self.rows // 2, self.cols // 2)

    def describe_standard(self) -> str:
        """The standard crop in words: 'shorter side 256 (bicubic), centre 224-px crop'."""
        z = self.standard
        where = "centre" if self.rows % 2 and self.cols % 2 else f"row {z.row} col {z.col}"
        return f"shorter side {z.scale} (bicubic), {where} {self.crop}-px crop"

    def box(self, width: int, height: int, zoom: Zoom) -> CropBox:
        """The crop of `zoom` on an image of the given original size."""
        return CropBox.of(width, height, zoom, self.crop, self.rows, self.cols)

    def boxes(self, width: int, height: int) -> list[CropBox]:
        """The crop of every transform, in canonical order, on an image of the given original size."""
        return [self.box(width, height, z) for z in self]

    def origins(self, width: int, height: int, scale: int) -> list[tuple[Zoom, int, int]]:
        """Every anchor of one scale as (zoom, left, top) on an image of the given original size."""
        out = []
        for r in range(self.rows):
            for c in range(self.cols):
                zoom = Zoom(scale, r, c)
                box = self.box(width, height, zoom)
                out.append((zoom, box.left, box.top))
        return out

    def to_dict(self) -> dict:
        return {"scales": list(self.scales), "rows": self.rows, "cols": self.cols, "crop": self.crop}

    @classmethod
    def from_dict(cls, d: dict) -> "ZoomGrid":
        return cls(tuple(d["scales"]), int(d["rows"]), int(d["cols"]), int(d["crop"]))

    @classmethod
    def parse_scales(cls, text: str) -> tuple[int, ...]:
        """'study', '224,256,384' or a range '64:1024:64' (start:stop:step, stop included)."""
        text = text.strip()
        if text == "study":
            return STUDY_SCALES
        try:
            if ":" in text:
                start, stop, *step = (int(p) for p in text.split(":"))
                return tuple(range(start, stop + 1, step[0] if step else 1))
            return tuple(int(p) for p in text.split(",") if p.strip())
        except ValueError:  # a word, an empty part, a zero step
            raise UsageError(f"--scales {text!r}: give 'study', a list like 224,256,384 "
                             "or a range START:STOP[:STEP] like 64:1024:64") from None

