"""The sweep on one GPU: model alone vs sweep vs the study's loop, resnet50 with random weights.

    python benchmarks/gpu_sweep.py [--images 256] [--device cuda]

Prints crops/s for
  model alone   torch (bf16 autocast, channels_last) on ready tensors already on the GPU
  sweep         zoomhard's engine: workers decode, each scale resized on the GPU, big batches
  study loop    for every transform: decode, PIL bicubic resize, crop, eager torch, batch 16
and the ratios sweep / model alone (target >= 0.8) and sweep / study loop (target >= 30).
Finishes in a few minutes on one GPU. `--device cpu` runs the same code on a CPU (slowly).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import numpy as np
import torch
import torchvision
import torchvision.transforms as T
import torchvision.transforms.functional as F
from PIL import Image

from photos import write_images
from zoomhard.crops import decode_image, device_grid_crops
from zoomhard.data import open_source
from zoomhard.grid import ZoomGrid, crop_origin
from zoomhard.models import load_classifier
from zoomhard.sweep import SweepConfig, run_sweep


def model_alone(classifier, device: str, batch: int, seconds: float) -> float:
    crops = device_grid_crops(np.asarray(decode_image(next(iter(open_source("samples"))).read())),
                              ZoomGrid(), device)
    reps = max(1, batch // len(crops) + 1)
    ready = torch.cat([crops] * reps)[:batch]
    classifier.logits(ready)  # warm-up (cudnn autotune, autocast caches)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        classifier.logits(ready)  # returns host logits: synchronises like the sweep does
        n += len(ready)
    return n / (time.perf_counter() - start)


def study_loop(module, device: str, seconds: float, batch: int = 16) -> float:
    mean = torch.tensor([0.485, 0.456, 0.406], device=device).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], device=device).view(1, 3, 1, 1)
    path = next(iter(open_source("samples"))).read()
    n, start, pending = 0, time.perf_counter(), []
    with torch.inference_mode():
        while time.perf_counter() - start < seconds:
            for zoom in ZoomGrid():
                img = Image.open(path).convert("RGB")
                resized = T.Resize(zoom.scale, interpolation=T.InterpolationMode.BICUBIC)(img)
                left, top = crop_origin(*img.size, zoom)
                pending.append(F.to_tensor(F.crop(resized, top, left, 224, 224)))
                if len(pending) == batch:
                    x = (torch.stack(pending).to(device) - mean) / std
                    module(x).argmax(1).cpu()
                    n, pending = n + batch, []
                if time.perf_counter() - start > seconds:
                    break
    return n / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=256, help="photos swept (324 crops each)")
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--seconds", type=float, default=15, help="timing window for model alone and study loop")
    args = ap.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("no CUDA device here; pass --device cpu to run this on the CPU")

    with tempfile.TemporaryDirectory() as d:
        weights = f"{d}/resnet50.pth"
        torch.manual_seed(0)
        torch.save(torchvision.models.resnet50().state_dict(), weights)
        classifier = load_classifier("torchvision:resnet50", weights, backend="torch", device=args.device)
        print(f"resnet50 (random weights) on {args.device}: "
              f"{torch.cuda.get_device_name() if args.device.startswith('cuda') else 'cpu'}")
        alone = model_alone(classifier, args.device, args.batch, args.seconds)
        print(f"  model alone: {alone:.0f} crops/s")

        write_images(f"{d}/imgs", args.images)
        cfg = SweepConfig(model="torchvision:resnet50", weights=weights, data=f"{d}/imgs", out=f"{d}/run",
                          batch_size=args.batch, backend="torch", device=args.device, resize="device",
                          workers=min(16, os.cpu_count() or 1), progress=False)
        run_sweep(cfg, log=lambda m: None)
        session = json.load(open(f"{d}/run/run.json"))["sessions"][-1]
        swept = session["crops_per_second"]
        print(f"  sweep: {session['crops']} crops in {session['seconds']:.1f} s = {swept:.0f} crops/s")

        study = study_loop(classifier.module, args.device, args.seconds)
        print(f"  study loop: {study:.0f} crops/s")
    print(f"sweep / model alone = {swept / alone:.2f}   (target >= 0.8)")
    print(f"sweep / study loop  = {swept / study:.1f}x  (target >= 30)")


if __name__ == "__main__":
    main()
