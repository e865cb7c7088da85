"""Labelled photos for the benchmarks: the bundled samples, then mirrored copies of them,
as they are or resized (PIL, keeping their aspect) to a given number of megapixels."""

from __future__ import annotations

import os
from collections.abc import Sequence

from PIL import Image

from zoomhard.crops import decode_image
from zoomhard.data import open_source


def resized_to(img: Image.Image, megapixels: float) -> Image.Image:
    """`img` with about `megapixels` million pixels, its aspect kept."""
    f = (megapixels * 1e6 / (img.width * img.height)) ** 0.5
    return img.resize((max(1, round(img.width * f)), max(1, round(img.height * f))), Image.LANCZOS)


def write_images(folder: str, n: int, megapixels: float | Sequence[float] | None = None) -> None:
    """n photos and their labels.csv in `folder` (created); with `megapixels`, each resized to
    that size (a sequence: photo i to the i-th size, cycled) and saved as a JPEG, as a camera would."""
    os.makedirs(folder)
    samples = list(open_source("samples"))
    sizes = list(megapixels) if isinstance(megapixels, Sequence) else [megapixels]
    with open(f"{folder}/labels.csv", "w") as f:
        f.write("image,labels\n")
        for i in range(n):
            it = samples[i % len(samples)]
            megapixels = sizes[i % len(sizes)]
            img = decode_image(it.read())
            if (i // len(samples)) % 2:
                img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            name = f"{i:05d}_{it.image_id}"
            if megapixels is None:
                img.save(f"{folder}/{name}")
            else:
                name = f"{os.path.splitext(name)[0]}.jpg"
                resized_to(img, megapixels).save(f"{folder}/{name}", quality=92)
            f.write(f"{name},{' '.join(map(str, it.labels))}\n")
