"""Seconds per image of MEMO with zoom-in views (memo-rrc) against MEMO with AugMix views, both
with batched tensor views, and against AugMix made the published way (one PIL view at a time).

    PYTHONPATH=src python benchmarks/tta_speed.py [--views 16] [--rounds 2] [--device cpu] [--threads N]

lite0 (real weights) on the bundled samples; one SGD step per image, as `zoomhard tta` runs it.
The methods take turns on every image, so a busy machine slows them alike; each ratio comes
from this one run. Also printed: the time to make the views alone.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from zoomhard.crops import decode_image, zoom_crop
from zoomhard.data import open_source
from zoomhard.grid import ZoomGrid
from zoomhard.tta.reference import pil_augmix_views
from zoomhard.tta.run import RRC_SCALE, TTAConfig, MemoRunner
from zoomhard.tta.views import augmix_views, image_rng, rrc_views


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--views", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=2, help="passes over the samples")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    runner = MemoRunner(TTAConfig(model="lite0", data="samples", methods=("memo-rrc",), views=args.views,
                                   device=args.device), None)
    memo, dev, n = runner.memo, runner.device, args.views
    mean_list = runner.mean.flatten().tolist()
    std_list = runner.std.flatten().tolist()
    grid = ZoomGrid()
    images = [(it.image_id, decode_image(it.read())) for it in open_source("samples")]

    def sync():
        if dev.startswith("cuda"):
            torch.cuda.synchronize()

    def makers(image_id, img):
        tensor = torch.from_numpy(np.array(img)).to(dev).permute(2, 0, 1).contiguous()
        return {
            "memo-rrc": lambda rng: runner.normalize(rrc_views(tensor, rng, n, 224, RRC_SCALE, "bicubic")),
            "memo-augmix": lambda rng: augmix_views(tensor, rng, n, runner.mean, runner.std),
            "memo-augmix (PIL, per view)": lambda rng: pil_augmix_views(img, rng, n, mean_list, std_list).to(dev),
        }

    kinds = list(makers(*images[0]))
    total = {k: [] for k in kinds}
    views_only = {k: [] for k in kinds}
    # One untimed image first: allocator and kernel warm-up.
    warm = makers(*images[0])
    standard = runner.normalize(torch.from_numpy(zoom_crop(images[0][1], grid.standard, grid)).to(dev)
                                .permute(2, 0, 1)[None])
    for k in kinds:
        rng = image_rng(0, images[0][0])
        memo.adapt_predict(lambda: warm[k](rng), standard)

    for r in range(args.rounds):
        for image_id, img in images:
            make = makers(image_id, img)
            for k in kinds:
                rng = image_rng(r, image_id)
                sync()
                t0 = time.perf_counter()
                make[k](rng)
                sync()
                views_only[k].append(time.perf_counter() - t0)

                rng = image_rng(r, image_id)
                sync()
                t0 = time.perf_counter()
                std = runner.normalize(torch.from_numpy(zoom_crop(img, grid.standard, grid)).to(dev)
                                       .permute(2, 0, 1)[None])
                memo.adapt_predict(lambda: make[k](rng), std)
                sync()
                total[k].append(time.perf_counter() - t0)

    count = len(total[kinds[0]])
    print(f"lite0, {n} views, 1 SGD step, device {dev}, torch threads {torch.get_num_threads()}, "
          f"{count} images ({args.rounds} rounds over {len(images)} samples)")
    print(f"{'method':<30} {'s/image':>9} {'median':>9} {'views s/image':>14}")
    mean = {k: statistics.fmean(v) for k, v in total.items()}
    vmean = {k: statistics.fmean(v) for k, v in views_only.items()}
    for k in kinds:
        print(f"{k:<30} {mean[k]:>9.3f} {statistics.median(total[k]):>9.3f} {vmean[k]:>14.4f}")
    rrc, aug, pil = kinds
    med = {k: statistics.median(v) for k, v in total.items()}
    print("ratios of seconds per image (mean; median in brackets, robust to a busy machine):")
    print(f"  memo-augmix / memo-rrc:             {mean[aug] / mean[rrc]:.2f}x ({med[aug] / med[rrc]:.2f}x)"
          "  (the study reports 1.6x)")
    print(f"  PIL per-view augmix / memo-augmix:  {mean[pil] / mean[aug]:.2f}x ({med[pil] / med[aug]:.2f}x)")
    print(f"  PIL per-view augmix / memo-rrc:     {mean[pil] / mean[rrc]:.2f}x ({med[pil] / med[rrc]:.2f}x)")
    print(f"  views alone: augmix / rrc {vmean[aug] / vmean[rrc]:.1f}x, PIL augmix / batched augmix "
          f"{vmean[pil] / vmean[aug]:.2f}x")


if __name__ == "__main__":
    main()
