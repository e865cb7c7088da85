"""Real files of every awkward kind, written from the sample photos. Used by several tests."""

from pathlib import Path

import numpy as np
from PIL import Image

from zoomhard.data.samples import SAMPLES, sample_path


def sample(name: str) -> Image.Image:
    _, package, rel, _ = next(s for s in SAMPLES if s[0] == name)
    return Image.open(sample_path(package, rel)).convert("RGB")


def write_awkward(folder: Path) -> dict[str, str]:
    """Write the files; returns name -> 'ok' (must be swept) or the expected reason fragment."""
    folder.mkdir(parents=True, exist_ok=True)
    cat = sample("chelsea.png")
    out: dict[str, str] = {}

    cat.save(folder / "plain.jpg", quality=92)
    out["plain.jpg"] = "ok"
    cat.convert("CMYK").save(folder / "cmyk.jpg")
    out["cmyk.jpg"] = "ok"
    cat.convert("L").save(folder / "gray.png")
    out["gray.png"] = "ok"
    rgba = cat.convert("RGBA")
    rgba.putalpha(128)
    rgba.save(folder / "rgba.png")
    out["rgba.png"] = "ok"
    gray16 = (np.asarray(cat.convert("L"), dtype=np.uint16) * 257)
    Image.fromarray(gray16).save(folder / "gray16.png")
    out["gray16.png"] = "ok"
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    cat.transpose(Image.Transpose.ROTATE_90).save(folder / "exif_rotated.jpg", exif=exif)
    out["exif_rotated.jpg"] = "ok"
    Image.new("RGB", (1, 1), (200, 30, 30)).save(folder / "one_pixel.png")
    out["one_pixel.png"] = "ok"

    full = (folder / "plain.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(full[: len(full) // 3])
    out["truncated.jpg"] = "unreadable"
    (folder / "empty.jpg").write_bytes(b"")
    out["empty.jpg"] = "not an image"
    (folder / "notes.txt").write_text("not a picture\n")
    out["notes.txt"] = "not an image"
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    out["corrupt.png"] = "image"
    # 9500 x 9500 = 90.25 M pixels, over Pillow's 89.5 M default: a decompression bomb
    Image.new("L", (9500, 9500)).save(folder / "bomb.png", optimize=False, compress_level=9)
    out["bomb.png"] = "decompression bomb"
    return out
