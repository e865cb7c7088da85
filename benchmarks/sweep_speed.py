"""Sweep throughput against its limit (the model alone) and against the study's loop, in one run,
on photos of several sizes.

    python benchmarks/sweep_speed.py [--model lite0] [--sizes samples,0.1,0.5,2,12] [--images 4] [--rounds 3]

Prints, for each photo size (the bundled samples as they are, then those photos resized to
about 0.1, 0.5, 2 and 12 megapixels and saved as JPEGs), crops/s for:
  model alone   the classifier's backend on ready uint8 crops (the ceiling)
  sweep         zoomhard's engine: decode once, resize once per scale, batched, threaded
                (steady state: a sweep of n photos subtracted from one of 2n)
and their ratio (target >= 0.9 up to 2 MP), with the CPU seconds one photo's exact resizing
takes; then the study's loop (for every transform: decode, bicubic resize, crop, eager torch,
batch 16) and the sweep's speed over it on the samples (target >= 6). Machines are noisy: the
model alone is timed between every two sweeps, each sweep's ratio uses the timings on either
side of it, and each figure is the median of the rounds'. The default run takes about ten
minutes on two cores.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import numpy as np
import torch
import torchvision.transforms as T
import torchvision.transforms.functional as F
from PIL import Image

from photos import write_images
from zoomhard.config import Setup
from zoomhard.crops import decode_image, grid_crops
from zoomhard.data import open_source
from zoomhard.data.samples import SAMPLES
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
    cfg = SweepConfig(Setup(model, folder), out=out, batch_size=batch, workers=workers, progress=False)
    run_sweep(cfg, log=lambda m: None)
    session = json.load(open(f"{out}/run.json"))["sessions"][-1]
    return session["seconds"], session["crops"]


def sweep_rate(model: str, folders: tuple[str, str], batch: int, workers: int) -> tuple[float, float]:
    """(steady-state crops/s, seconds): sweeps of n and 2n images, differenced, so that the
    start (first image cut before the model has work) and the end (last flush) cancel out."""
    with tempfile.TemporaryDirectory() as d:
        t1, c1 = sweep_seconds(model, folders[0], f"{d}/run1", batch, workers)
        t2, c2 = sweep_seconds(model, folders[1], f"{d}/run2", batch, workers)
    return (c2 - c1) / (t2 - t1), t2 - t1


def resize_seconds(folder: str) -> float:
    """CPU seconds of one photo's decoding and exact resizing to every crop of the grid
    (the mean over the folder's first photos, one of each sample)."""
    paths = sorted(p for p in os.listdir(folder) if p != "labels.csv")[:len(SAMPLES)]
    start = time.process_time()
    for p in paths:
        grid_crops(decode_image(f"{folder}/{p}"), ZoomGrid())
    return (time.process_time() - start) / len(paths)


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


def size_label(size: str) -> str:
    return "samples" if size == "samples" else f"{size} MP"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="lite0")
    ap.add_argument("--sizes", default="samples,0.1,0.5,2,12",
                    help="photo sizes: 'samples' (as bundled) and megapixels, comma-separated")
    ap.add_argument("--images", type=int, default=4, help="photos a round's two sweeps differ by (324 crops each)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--alone-seconds", type=float, default=4.0, help="length of each timing of the model alone")
    ap.add_argument("--study-every", type=int, default=3, help="time the study's loop on every N-th transform")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--workers", type=int, default=SweepConfig.workers, help="the sweep's decode + resize threads")
    args = ap.parse_args()
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]

    print(f"model {args.model}, full grid of {len(ZoomGrid())} transforms, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f} at the start")
    classifier = load_classifier(args.model)
    crops = grid_crops(decode_image(next(iter(open_source("samples"))).read()), ZoomGrid())
    with tempfile.TemporaryDirectory() as d:
        folders, pixels, resize = {}, {}, {}
        for size in sizes:
            mp = None if size == "samples" else float(size)
            folders[size] = (f"{d}/{size}-n", f"{d}/{size}-2n")
            write_images(folders[size][0], args.images, mp)
            write_images(folders[size][1], 2 * args.images, mp)
            first = sorted(os.listdir(folders[size][0]))[0]
            with Image.open(f"{folders[size][0]}/{first}") as im:
                pixels[size] = im.size
            resize[size] = resize_seconds(folders[size][0])
        alone: dict[str, list[float]] = {s: [] for s in sizes}
        swept: dict[str, list[float]] = {s: [] for s in sizes}
        for r in range(args.rounds):
            # The model alone runs between every two sweeps; each sweep is compared with the
            # timings on either side of it, so that a machine getting busier or quieter moves
            # both figures alike. Odd rounds go through the sizes backwards.
            order = sizes if r % 2 == 0 else sizes[::-1]
            before = model_alone(classifier, crops, args.batch, args.alone_seconds)
            for size in order:
                rate, seconds = sweep_rate(args.model, folders[size], args.batch, args.workers)
                after = model_alone(classifier, crops, args.batch, args.alone_seconds)
                alone[size].append((before + after) / 2)
                swept[size].append(rate)
                print(f"  round {r + 1} {size_label(size):>8}: model alone {alone[size][-1]:6.1f} crops/s, "
                      f"sweep {rate:6.1f} crops/s ({swept[size][-1] / alone[size][-1]:.2f}, "
                      f"{seconds:.0f} s), load {os.getloadavg()[0]:.1f}", flush=True)
                before = after
    study = study_loop(args.model, args.study_every)

    print(f"\nmedians of {args.rounds} rounds; model alone: {classifier.backend}, ready uint8 crops, batch {args.batch}")
    print(f"{'photos':>9} {'pixels':>11} {'resize s':>9} {'model alone':>12} {'sweep':>7} {'sweep/model':>12}")
    for size in sizes:
        ratio = float(np.median(np.array(swept[size]) / np.array(alone[size])))
        w, h = pixels[size]
        print(f"{size_label(size):>9} {f'{w}x{h}':>11} {resize[size]:9.2f} {np.median(alone[size]):12.1f} "
              f"{np.median(swept[size]):7.1f} {ratio:12.2f}")
    print("(resize s: CPU seconds to decode one photo and cut its 324 crops, exactly as PIL would)")
    print(f"study loop {study:.1f} crops/s (eager torch, batch 16, decode+resize per transform)")
    if "samples" in sizes:
        print(f"sweep / study loop on the samples = {np.median(swept['samples']) / study:.1f}x  (target >= 6)")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
