"""Sweep throughput against its limit (the model alone) and against the study's loop, in one run.

    python benchmarks/sweep_speed.py [--model lite0] [--images 6] [--rounds 3]

Prints crops/s for:
  model alone   the classifier's backend on ready, normalised tensors (the ceiling)
  sweep         zoomhard's engine: decode once, resize once per scale, batched, threaded
                (steady state: a sweep of n photos subtracted from one of 2n)
  study loop    for every transform: decode, bicubic resize, crop, eager torch, batch 16
and the ratios sweep / model alone (target >= 0.9) and sweep / study loop (target >= 6).
Machines are noisy: each round times the model alone just before and just after its sweeps,
and each ratio is the median of the rounds' ratios.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import numpy as np
import torch
import torchvision.transforms as T
import torchvision.transforms.functional as F
from PIL import Image

from photos import write_images
from zoomhard.crops import decode_image, grid_crops
from zoomhard.data import open_source
from zoomhard.grid import ZoomGrid, crop_origin
from zoomhard.models import load_classifier, load_model
from zoomhard.sweep import SweepConfig, run_sweep


def model_alone(classifier, crops: np.ndarray, batch: int, seconds: float) -> float:
    ready = [classifier.prepare(crops[i:i + batch]) for i in range(0, len(crops) - batch + 1, batch)]
    session, name = classifier.session, classifier.session.get_inputs()[0].name
    session.run(None, {name: ready[0]})  # warm-up
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for x in ready:
            session.run(None, {name: x})
            n += len(x)
    return n / (time.perf_counter() - start)


def sweep_seconds(model: str, folder: str, out: str, batch: int, workers: int) -> tuple[float, int]:
    """(seconds of sweeping, crops) for one run, model load and summary excluded."""
    cfg = SweepConfig(model=model, data=folder, out=out, batch_size=batch, workers=workers, progress=False)
    run_sweep(cfg, log=lambda m: None)
    session = json.load(open(f"{out}/run.json"))["sessions"][-1]
    return session["seconds"], session["crops"]


def sweep_rate(model: str, images: int, batch: int, workers: int) -> tuple[float, float]:
    """(steady-state crops/s, seconds): sweeps of n and 2n images, differenced, so that the
    start (first image cut before the model has work) and the end (last flush) cancel out."""
    with tempfile.TemporaryDirectory() as d:
        write_images(f"{d}/small", images)
        write_images(f"{d}/large", 2 * images)
        t1, c1 = sweep_seconds(model, f"{d}/small", f"{d}/run1", batch, workers)
        t2, c2 = sweep_seconds(model, f"{d}/large", f"{d}/run2", batch, workers)
    return (c2 - c1) / (t2 - t1), t2 - t1


def study_loop(model: str, every: int, batch: int = 16) -> float:
    """The study's own structure: every transform decodes and resizes the image again
    (timed on every `every`-th transform of the grid, all scales represented)."""
    module, pre = load_model(model)
    mean, std = torch.tensor(pre.mean).view(3, 1, 1), torch.tensor(pre.std).view(3, 1, 1)
    grid = ZoomGrid()
    paths = [next(iter(open_source("samples"))).read()]
    n, start = 0, time.perf_counter()
    with torch.inference_mode():
        for path in paths:
            pending = []
            for zoom in list(grid)[::every]:
                img = Image.open(path).convert("RGB")
                resized = T.Resize(zoom.scale, interpolation=T.InterpolationMode.BICUBIC)(img)
                left, top = crop_origin(*img.size, zoom)
                x = (F.to_tensor(F.crop(resized, top, left, grid.crop, grid.crop)) - mean) / std
                pending.append(x)
                if len(pending) == batch:
                    module(torch.stack(pending))
                    n += len(pending)
                    pending = []
            if pending:
                module(torch.stack(pending))
                n += len(pending)
    return n / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="lite0")
    ap.add_argument("--images", type=int, default=6, help="photos a round's two sweeps differ by (324 crops each)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--study-every", type=int, default=3, help="time the study's loop on every N-th transform")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--workers", type=int, default=SweepConfig.workers, help="the sweep's decode + resize threads")
    args = ap.parse_args()

    print(f"model {args.model}, full grid of {len(ZoomGrid())} transforms, {torch.get_num_threads()} threads")
    classifier = load_classifier(args.model)
    crops = grid_crops(decode_image(next(iter(open_source("samples"))).read()), ZoomGrid())
    alone, swept = [], []
    for r in range(args.rounds):
        # The model alone runs just before and just after the sweeps, so that a machine getting
        # busier or quieter during the round moves both figures alike.
        before = model_alone(classifier, crops, args.batch, 5.0)
        rate, seconds = sweep_rate(args.model, args.images, args.batch, args.workers)
        swept.append(rate)
        alone.append((before + model_alone(classifier, crops, args.batch, 5.0)) / 2)
        print(f"  round {r + 1}: model alone {alone[-1]:.1f} crops/s, sweep {rate:.1f} crops/s "
              f"(steady state over {args.images} more images, {seconds:.1f} s)")
    study = study_loop(args.model, args.study_every)
    ratio = float(np.median(np.array(swept) / np.array(alone)))
    print(f"{'':14}{'crops/s':>10}  (medians of {args.rounds} rounds)")
    print(f"{'model alone':14}{np.median(alone):10.1f}   ({classifier.backend}, ready tensors, batch {args.batch})")
    print(f"{'sweep':14}{np.median(swept):10.1f}")
    print(f"{'study loop':14}{study:10.1f}   (eager torch, batch 16, decode+resize per transform)")
    print(f"sweep / model alone = {ratio:.2f}   (target >= 0.9)")
    print(f"sweep / study loop  = {np.median(swept) / study:.1f}x  (target >= 6)")


if __name__ == "__main__":
    main()
