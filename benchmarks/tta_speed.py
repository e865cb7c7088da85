"""Seconds per image of MEMO with zoom-in views (memo-rrc) against MEMO with AugMix views, on
small photos and on large ones, and against AugMix made the published way (one PIL view at a time).

    PYTHONPATH=src python benchmarks/tta_speed.py [--views 16] [--rounds 3] [--sizes native,1024,12mp]
                                                  [--device cpu] [--threads N]

lite0 (real weights) on the bundled samples: as they are (300-640 pixels wide), upscaled
(bicubic) to a longer side of 1024 pixels, and to about 12 megapixels (4240 x 2830 for 3:2).
Each image is one `zoomhard tta` MEMO call (MemoRunner: tensor conversion, views, one SGD step,
the prediction). The methods take turns on every image, so a busy machine slows them alike;
each ratio is of medians over the rounds of this one run. Also printed: the views alone.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import numpy as np
import torch
from PIL import Image

from zoomhard.config import Setup
from zoomhard.crops import decode_image, zoom_crop
from zoomhard.data import open_source
from zoomhard.grid import ZoomGrid
from zoomhard.tta.reference import pil_augmix_views
from zoomhard.tta.run import RRC_SCALE, MemoRunner, TTAConfig
from zoomhard.tta.views import augmix_views, image_rng, rrc_views

METHODS = ("memo-rrc", "memo-augmix", "memo-augmix (PIL, per view)")


def sized(img: Image.Image, size: str) -> Image.Image:
    """The photo as it is ("native"), with its longer side N pixels ("1024"), or of about N
    megapixels ("12mp"), keeping its aspect ratio."""
    if size == "native":
        return img
    if size.endswith("mp"):
        f = math.sqrt(float(size[:-2]) * 1e6 / (img.width * img.height))
    else:
        f = int(size) / max(img.size)
    return img.resize((round(img.width * f), round(img.height * f)), Image.BICUBIC)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--views", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=3, help="passes over the samples per size")
    ap.add_argument("--sizes", default="native,1024,12mp", help="native, a longer side in pixels, or NNmp")
    ap.add_argument("--images", type=int, default=6, help="samples used (at most 6)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    runner = MemoRunner(TTAConfig(Setup("lite0", "samples", device=args.device), methods=("memo-rrc",),
                                  views=args.views), None)
    dev, n, grid = runner.device, args.views, ZoomGrid()
    mean_list, std_list = runner.mean.flatten().tolist(), runner.std.flatten().tolist()
    photos = [(it.image_id, decode_image(it.read())) for it in open_source("samples")][:args.images]

    def sync():
        if dev.startswith("cuda"):
            torch.cuda.synchronize()

    def timed(fn) -> float:
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        return time.perf_counter() - t0

    def views_of(kind, image_id, img, tensor):
        rng = image_rng(0, image_id)
        if kind == "memo-rrc":
            return lambda: runner.normalize(rrc_views(tensor, rng, n, 224, RRC_SCALE, "bicubic"))
        if kind == "memo-augmix":
            return lambda: augmix_views(tensor, rng, n, runner.mean, runner.std)
        return lambda: pil_augmix_views(img, rng, n, mean_list, std_list).to(dev)

    def memo_call(kind, image_id, img, standard):
        if kind in ("memo-rrc", "memo-augmix"):      # what `zoomhard tta` runs per image
            return lambda: runner(kind, img, standard, image_id)

        def pil_memo():
            tensor = runner.normalize(torch.from_numpy(standard).to(dev).permute(2, 0, 1)[None])
            runner.memo.adapt_predict(views_of(kind, image_id, img, None), tensor)
        return pil_memo

    print(f"lite0, {n} views, 1 SGD step, device {dev}, torch threads {torch.get_num_threads()}, "
          f"{len(photos)} samples x {args.rounds} rounds per size; medians in seconds per image")
    standard0 = zoom_crop(photos[0][1], grid.standard, grid)
    for kind in METHODS:                             # untimed: allocator and kernel warm-up
        memo_call(kind, photos[0][0], photos[0][1], standard0)()
    summary = []
    for size in args.sizes.split(","):
        images = [(i, sized(img, size)) for i, img in photos]
        total = {k: [] for k in METHODS}
        views = {k: [] for k in METHODS}
        for _ in range(args.rounds):
            for image_id, img in images:
                standard = zoom_crop(img, grid.standard, grid)
                tensor = torch.from_numpy(np.array(img)).to(dev).permute(2, 0, 1).contiguous()
                for kind in METHODS:
                    views[kind].append(timed(views_of(kind, image_id, img, tensor)))
                    total[kind].append(timed(memo_call(kind, image_id, img, standard)))
        med = {k: statistics.median(v) for k, v in total.items()}
        vmed = {k: statistics.median(v) for k, v in views.items()}
        w, h = images[0][1].size
        print(f"\n{size}: first image {w} x {h} ({w * h / 1e6:.1f} MP)")
        print(f"  {'method':<30} {'s/image':>9} {'views alone':>12}")
        for k in METHODS:
            print(f"  {k:<30} {med[k]:>9.3f} {vmed[k]:>12.4f}")
        rrc, aug, pil = METHODS
        ratio = med[aug] / med[rrc]
        summary.append((size, ratio, vmed[aug] / vmed[rrc], med[pil] / med[rrc]))
        print(f"  memo-augmix / memo-rrc {ratio:.2f}x (the study reports 1.6x); views alone "
              f"{vmed[aug] / vmed[rrc]:.1f}x; PIL per-view augmix / memo-rrc {med[pil] / med[rrc]:.2f}x")
    print("\nmemo-augmix / memo-rrc, seconds per image (views alone):")
    for size, ratio, vratio, _ in summary:
        print(f"  {size:<8} {ratio:.2f}x ({vratio:.1f}x)")


if __name__ == "__main__":
    main()
