"""The bundled default: real photos that ship with scikit-image and matplotlib, labelled with
every ImageNet-1k class that names what they show."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Iterator

from .base import DataError, Item, file_locator
from .locator import Locator, Recent, register

# (image id, package, file inside the package's data folder, acceptable ImageNet-1k indices)
SAMPLES: tuple[tuple[str, str, str, tuple[int, ...]], ...] = (
    ("chelsea.png", "skimage", "data/chelsea.png", (281, 282, 285)),          # tabby, tiger cat, Egyptian cat
    ("coffee.png", "skimage", "data/coffee.png", (967,)),                     # espresso
    ("rocket.jpg", "skimage", "data/rocket.jpg", (657, 744, 812)),            # missile, projectile, space shuttle
    ("motorcycle_left.png", "skimage", "data/motorcycle_left.png", (665, 670)),  # moped, motor scooter
    ("camera.png", "skimage", "data/camera.png", (872,)),                     # tripod
    ("grace_hopper.jpg", "matplotlib", "mpl-data/sample_data/grace_hopper.jpg", (652,)),  # military uniform
)


def sample_path(package: str, relative: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise DataError(f"the samples need the {package} package (pip install {package})")
    path = Path(spec.origin).parent / relative
    if not path.is_file():
        raise DataError(f"{path} is missing from the installed {package}")
    return path


def local_sample(locator: str) -> str | None:
    """The locator of this machine's copy of the sample a samples run's `locator` names (the run
    may come from another machine, where the packages lie elsewhere); None for any other file."""
    loc = Locator.parse(locator)
    if loc.scheme != "file":
        return None
    path = Path(loc.parts[0])
    for _, package, rel, _ in SAMPLES:
        tail = Path(package, rel).parts
        if path.parts[-len(tail):] == tail:
            try:
                return file_locator(sample_path(package, rel))
            except DataError:
                return None
    return None


class SamplesSource:
    spec = "samples"
    auto_subset = None

    def __init__(self) -> None:
        self._items = [Item(image_id, labels, package, file_locator(sample_path(package, rel)))
                       for image_id, package, rel, labels in SAMPLES]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Item]:
        return iter(self._items)

    def describe(self) -> dict:
        return {"spec": self.spec, "kind": "samples", "images": len(self)}


# The samples planted off-centre: each photo at one corner of a grey canvas twice its width and
# height, so the object sits nowhere near the centre anchor. Corners go round in this order.
OFFCENTRE_SPEC = "samples-offcentre"
OFFCENTRE_GREY = (128, 128, 128)
OFFCENTRE_CORNERS = ((0, 0), (0, 1), (1, 1), (1, 0))   # (row, col) of the canvas quadrant: 0 top / left


def offcentre_png(image_id: str) -> bytes:
    """The PNG of one sample planted in its corner of the larger canvas (made on each read: the
    photos are small, and nothing is cached on disk)."""
    import io

    from PIL import Image

    index = next((k for k, s in enumerate(SAMPLES) if s[0] == image_id), None)
    if index is None:
        raise DataError(f"{image_id!r} is not one of the samples")
    _, package, rel, _ = SAMPLES[index]
    with Image.open(sample_path(package, rel)) as photo:
        photo = photo.convert("RGB")
    w, h = photo.size
    row, col = OFFCENTRE_CORNERS[index % len(OFFCENTRE_CORNERS)]
    canvas = Image.new("RGB", (2 * w, 2 * h), OFFCENTRE_GREY)
    canvas.paste(photo, (col * w, row * h))
    buf = io.BytesIO()
    canvas.save(buf, "PNG", compress_level=1)
    return buf.getvalue()


class OffcentreSamplesSource(SamplesSource):
    """The samples, each pasted at a corner of a grey canvas twice its size (same ids, same
    labels): data with a known spatial bias away from the centre."""

    spec = OFFCENTRE_SPEC

    def __init__(self) -> None:
        self._items = [Item(image_id, labels, package, str(Locator(OFFCENTRE_SPEC, (image_id,))))
                       for image_id, package, rel, labels in SAMPLES]
        for _, package, rel, _ in SAMPLES:
            sample_path(package, rel)   # a missing package fails here, not at the first read

    def describe(self) -> dict:
        return {"spec": self.spec, "kind": "samples-offcentre", "images": len(self)}


def _open_offcentre(loc: Locator, recent: Recent) -> bytes:
    return offcentre_png(loc.parts[0])


register(OFFCENTRE_SPEC, "", _open_offcentre)
