"""A Python iterable of (image, labels[, image_id]) as a sweep source.

An image is a PIL image, a path or the encoded bytes; labels are one ImageNet-1k class or a list
of them (indices, wnids or class names, labels.resolve_classes). Ids default to the position.
Images given in memory are written once under the run folder (`inputs/`), so that the report and
the gallery can read them again like any other source's files.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Iterable, Iterator

from .. import labels as L
from ..errors import DataArgumentError, UsageError
from ..runs.files import atomic_write_bytes
from .base import Item, file_locator

INPUTS = "inputs"  # folder of the run that keeps images given in memory


def _encode(image) -> tuple[bytes, str]:
    """A PIL image as lossless bytes, its EXIF orientation applied (as a file's would be)."""
    from PIL import ImageOps

    image = ImageOps.exif_transpose(image)
    buf = io.BytesIO()
    try:
        image.save(buf, "PNG")
    except (OSError, ValueError):  # modes PNG cannot hold (CMYK, ...)
        buf = io.BytesIO()
        image.convert("RGB").save(buf, "PNG")
    return buf.getvalue(), ".png"


def _entry(k: int, entry) -> tuple[str, object, tuple[int, ...]]:
    if not isinstance(entry, (tuple, list)) or len(entry) not in (2, 3):
        raise DataArgumentError(f"data entry {k} is {type(entry).__name__}, not (image, labels) or "
                                "(image, labels, image_id)")
    image, labels = entry[0], entry[1]
    image_id = str(entry[2]) if len(entry) == 3 else str(k)
    from PIL import Image

    if not isinstance(image, (Image.Image, bytes, bytearray, str, os.PathLike)):
        raise DataArgumentError(f"data entry {image_id!r}: the image is {type(image).__name__}; give a PIL image, "
                                "a path or the encoded bytes")
    try:
        classes = L.resolve_classes(labels)
    except L.LabelError as e:
        raise L.LabelError(f"data entry {image_id!r}: {e}") from None
    return image_id, image, classes


class PythonSource:
    """The images of a Python iterable, read in full once (so the sweep knows how many)."""

    spec = "python"
    auto_subset = None

    def __init__(self, data: Iterable, inputs: str | os.PathLike):
        self.inputs = Path(inputs)
        self._entries = [_entry(k, x) for k, x in enumerate(data)]
        ids = [i for i, _, _ in self._entries]
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise UsageError(f"image id {dup!r} is given twice; ids must be unique")

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Item]:
        from PIL import Image

        for image_id, image, classes in self._entries:
            if isinstance(image, (str, os.PathLike)):
                yield Item(image_id, classes, "", file_locator(Path(image).expanduser().resolve()))
                continue
            data, ext = _encode(image) if isinstance(image, Image.Image) else (bytes(image), ".bin")
            yield Item(image_id, classes, "", file_locator(self._keep(image_id, data, ext)), payload=data)

    def _keep(self, image_id: str, data: bytes, ext: str) -> Path:
        """The image's copy under inputs/, named by a digest of its id (ids may hold '/' or '..')."""
        path = self.inputs / (hashlib.sha1(image_id.encode()).hexdigest()[:16] + ext)
        if not path.exists() or path.stat().st_size != len(data):
            atomic_write_bytes(path, data)
        return path

    def locator_roots(self) -> list[Path]:
        """RUN/inputs, and the folders of the images given as paths."""
        return [self.inputs, *{Path(image).expanduser().resolve().parent for _, image, _ in self._entries
                               if isinstance(image, (str, os.PathLike))}]

    def describe(self) -> dict:
        return {"spec": self.spec, "kind": "python", "images": len(self)}
