"""The bundled default: real photos that ship with scikit-image and matplotlib, labelled with
every ImageNet-1k class that names what they show."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Iterator

from .base import DataError, Item

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


class SamplesSource:
    spec = "samples"
    auto_subset = None

    def __init__(self) -> None:
        self._items = [Item(image_id, labels, package, f"file:{sample_path(package, rel)}")
                       for image_id, package, rel, labels in SAMPLES]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Item]:
        return iter(self._items)

    def describe(self) -> dict:
        return {"spec": self.spec, "kind": "samples", "images": len(self)}
