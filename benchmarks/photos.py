"""Labelled photos for the benchmarks: the bundled samples, then mirrored copies of them."""

from __future__ import annotations

import os

from PIL import Image

from zoomhard.crops import decode_image
from zoomhard.data import open_source


def write_images(folder: str, n: int) -> None:
    """n photos and their labels.csv in `folder` (created)."""
    os.makedirs(folder)
    samples = list(open_source("samples"))
    with open(f"{folder}/labels.csv", "w") as f:
        f.write("image,labels\n")
        for i in range(n):
            it = samples[i % len(samples)]
            img = decode_image(it.read())
            if (i // len(samples)) % 2:
                img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            name = f"{i:05d}_{it.image_id}"
            img.save(f"{folder}/{name}")
            f.write(f"{name},{' '.join(map(str, it.labels))}\n")
