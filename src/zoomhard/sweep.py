"""The sweep: every image of a source, through every transform of a grid, by one classifier.

    source -> (worker threads) decode once, resize once per scale, cut all anchors
           -> batches that cross image boundaries -> classifier -> scores -> run folder

Decoding and resizing run in threads (Pillow releases the GIL) while the classifier runs, so
the model stays busy. Only a few images' crops are alive at once, so memory does not grow with
the dataset. Completed images are flushed to the run folder in atomic parts; a run started
again skips every image already written or recorded as unusable.

On CUDA the workers only decode; each scale is resized on the GPU (`--resize device`), and
several GPUs each take a shard of the images (one process per GPU). `--until-correct` tries
the transforms in a learned order and stops at the first correct one per image: the same upper
bound as the full sweep for a fraction of the work.
"""

from __future__ import annotations

import math
import os
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np
import pyarrow as pa

from . import analysis, study
from .config import Setup, open_classifier, open_data
from .crops import device_grid_crops, grid_crops, zoom_crops
from .data import Item, Source
from .errors import UsageError
from .grid import Zoom, ZoomGrid
from .models import Classifier
from .models.weights import weights_note, weights_tag
# NO_LABEL, Batcher and ImageCrops stay importable from here, where users of zoomhard.sweep found them
from .pipeline import NO_LABEL, Batcher, ImageCrops, Prepared, classify, grid_prefetch, image_crops  # noqa: F401
from .protocols import ClassSpace, class_space, resolve_subset, score
from .store import IMAGES, PREDICTIONS, RunStore, file_sha256


@dataclass
class SweepConfig:
    model: str
    data: str
    out: str
    weights: str | None = None
    labels: str | None = None         # labels CSV for a plain folder of images
    grid: ZoomGrid = field(default_factory=ZoomGrid)
    subset: str = "auto"              # auto: the class folders present (the study's rule)
    batch_size: int = 64              # crops per model call; batches span images
    workers: int = min(4, os.cpu_count() or 1)  # decode + resize threads
    backend: str = "auto"
    device: str = "auto"
    mean: tuple[float, ...] | None = None  # override the model's normalisation
    std: tuple[float, ...] | None = None
    resize: str = "auto"              # pil | device (torch on the model's device); auto: device on CUDA
    shard: tuple[int, int] | None = None  # (k, n): only images k, k + n, k + 2n, ... of the source
    until_correct: bool = False       # stop at each image's first correct transform
    order: str | None = None          # analysis.json whose min_cover orders --until-correct
    flush_seconds: float = 30.0       # how much finished work a kill can cost, at most
    progress: bool = True
    child: bool = False               # a per-GPU worker process: no run.json, no progress bar
    real_labels: str | None = None    # ReaL labels JSON (protocols.RelabelledSource)
    real_mode: str = "original+real"
    clip_norm: str | None = None      # open_clip: "clip" | "imagenet"; None: the protocol's (zoomhard.study)
    protocol: str = "native"          # "study": the authors' setup (see zoomhard.study)
    engine: str = "local"             # local | ray (zoomhard.engines)
    ray_address: str | None = None    # join this Ray cluster; None: start a local one
    allow_outside_root: bool = False  # read files a dataset names outside its own folder

    @property
    def setup(self) -> Setup:
        """The model, data and protocol part, as bench and tta take it too."""
        return Setup.of(self)


def prediction_tables(images: list[ImageCrops], grid: ZoomGrid, allowed: np.ndarray | None,
                      groups: tuple[tuple[int, ...], ...] | None = None) -> tuple[pa.Table, pa.Table]:
    """Rows for finished images (several entries may share an image under --until-correct)."""
    full = list(grid)
    zooms = [z for im in images for z in (im.zooms or full)]
    counts = [len(im.zooms or full) for im in images]
    parts = [im.scores or score(im.logits, im.item.labels, allowed, groups) for im in images]
    cat = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    predictions = pa.table({
        "image_id": pa.array(np.repeat([im.item.image_id for im in images], counts)),
        "scale": np.array([z.scale for z in zooms], np.int16),
        "row": np.array([z.row for z in zooms], np.int8),
        "col": np.array([z.col for z in zooms], np.int8),
        "top1": cat["top1"].astype(np.int16),
        "correct": cat["correct"],
        "top5": pa.FixedSizeListArray.from_arrays(cat["top5"].astype(np.int16).ravel(), 5).cast(pa.list_(pa.int16())),
        "top5_prob": pa.FixedSizeListArray.from_arrays(cat["top5_prob"].astype(np.float32).ravel(), 5)
                       .cast(pa.list_(pa.float32())),
        "label_prob": cat["label_prob"].astype(np.float32),
    }, schema=PREDICTIONS)
    unique: dict[str, ImageCrops] = {}
    for im in images:
        unique.setdefault(im.item.image_id, im)
    images = list(unique.values())
    meta = pa.table({
        "image_id": [im.item.image_id for im in images],
        "labels": [list(im.item.labels) for im in images],
        "origin": [im.item.origin for im in images],
        "width": [im.size[0] for im in images],
        "height": [im.size[1] for im in images],
        "locator": [im.item.locator for im in images],
    }, schema=IMAGES)
    return predictions, meta


def summarize(store: RunStore, grid: ZoomGrid) -> dict:
    table = store.predictions(columns=["image_id", "scale", "row", "col", "correct"])
    c = analysis.correctness(table, grid)
    n = len(c.image_ids)
    return {"images": n, "transforms": len(grid), "standard": grid.standard.id,
            "standard_top1": analysis.standard_top1(c, grid) if analysis.standard_evaluated(c, grid) else None,
            "upper_bound": analysis.upper_bound(c),
            "evaluated": float(c.observed.mean()) if n else 0.0,
            "unreadable": len(store.errors())}


def default_order(grid: ZoomGrid) -> list[Zoom]:
    """Centre first, by distance of the scale from the standard's: the order that finds a
    correct transform soonest on data where the standard crop is often right."""
    std = grid.standard

    def key(z: Zoom):
        return (z.row, z.col) != (std.row, std.col), abs(math.log(z.scale / std.scale)), z

    return sorted(grid, key=key)


def learned_order(grid: ZoomGrid, analysis_json: str | None) -> list[Zoom]:
    """A previous run's greedy min-cover first, then the rest in the default order."""
    rest = default_order(grid)
    if not analysis_json:
        return rest
    try:
        cover = analysis.read_min_cover(analysis_json)
    except ValueError as e:
        raise UsageError(f"--order {e}") from None
    cover = [z for z in dict.fromkeys(cover) if z in grid]
    return cover + [z for z in rest if z not in set(cover)]


# Transforms tried per image before each check under --until-correct (cumulative ends).
UNTIL_CORRECT_STAGES = (1, 9, 36, 108)


def _resize_mode(cfg: SweepConfig, classifier: Classifier) -> str:
    if cfg.resize not in ("auto", "pil", "device"):
        raise UsageError(f"unknown resize {cfg.resize!r}; choose one of: auto, pil, device")
    if cfg.resize == "auto":
        return "device" if classifier.device.startswith("cuda") else "pil"
    return cfg.resize


def _spawn_gpu_workers(cfg: SweepConfig, n: int) -> list:
    """One process per extra GPU, each sweeping its shard of the images into the same folder."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    procs = []
    for k in range(1, n):
        child = SweepConfig(**{**cfg.__dict__, "shard": (k, n), "device": f"cuda:{k}", "child": True,
                               "progress": False})
        p = ctx.Process(target=run_sweep, args=(child,), kwargs={"log": print}, daemon=False)
        p.start()
        procs.append(p)
    return procs


def run_source(cfg: SweepConfig) -> Source:
    """The images a sweep covers, relabelled with ReaL labels when asked."""
    return open_data(cfg.setup)


def run_classifier(cfg: SweepConfig, device: str) -> Classifier:
    """The sweep's model on `device`; open_clip models take ImageNet's mean/std under the study protocol."""
    return open_classifier(cfg.setup, device, crop=cfg.grid.crop, clip_norm=study.clip_norm(cfg.protocol, None))


def run_identity(cfg: SweepConfig, source: Source, space: ClassSpace) -> dict:
    """What must match for a run folder to be resumed (store.IDENTITY_KEYS), whatever the engine."""
    return {
        "model": cfg.model,
        "weights": os.path.abspath(cfg.weights) if cfg.weights else None,
        "digests": input_digests(cfg, source),
        "grid": cfg.grid.to_dict(),
        "data": {k: v for k, v in source.describe().items() if k != "images"},
        "subset": {"name": space.name, "classes": space.classes},
        "mode": "until-correct" if cfg.until_correct else "full",
        "protocol": cfg.protocol,
        "weights_tag": weights_tag(cfg.model, cfg.weights),  # recorded, not compared: the spec decides it
    }


def input_digests(cfg: SweepConfig, source: Source) -> dict[str, str]:
    """sha256 of the local files whose content decides the results under the same names: the
    weights (or the onnx:PATH model), the labels and ReaL labels files. A file replaced at the same
    path is then another run, not a resume."""
    inner = getattr(source, "inner", source)  # under a RelabelledSource
    files = {"weights": cfg.weights, "labels": getattr(inner, "labels_file", None), "real_labels": cfg.real_labels,
             "model": cfg.model.partition(":")[2] if cfg.model.startswith("onnx:") else None}
    return {what: file_sha256(path) for what, path in files.items() if path}


def done_before(cfg: SweepConfig, store: RunStore, source: Source, log: Callable[[str], None]) -> set[str]:
    """Ids of the images a run folder already holds (swept or recorded unusable), said when any."""
    skip = store.done_ids() | set(store.errors())
    if skip:
        log(f"resuming {cfg.out}: {len(skip)} of {len(source)} images already done")
    return skip


def end_session(store: RunStore, started: float, images: int, unreadable: int, crops: int, **extra) -> None:
    """This session's counts and timing, into its own entry of run.json."""
    elapsed = time.time() - started
    store.update_session(ended=time.time(), seconds=round(elapsed, 3), images=images, unreadable=unreadable,
                         crops=crops, crops_per_second=round(crops / max(elapsed, 1e-9), 2), **extra)


def write_summary(store: RunStore, grid: ZoomGrid) -> dict:
    """The run's summary over everything it holds, also kept in run.json."""
    config = store.read_config()
    summary = {**summarize(store, grid), "protocol": config.get("protocol", "native"),
               "weights_tag": config.get("weights_tag")}
    store.update_config(summary=summary)
    return summary


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (kill, Slurm, Kubernetes, Docker) handled as Ctrl-C is: finished work is written
    before the process ends. Only the main thread can take signals; elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class Terminated(KeyboardInterrupt):
    """The process was asked to stop (SIGTERM)."""


def run_sweep(cfg: SweepConfig, log: Callable[[str], None] = print, source: Source | None = None,
              classifier: Classifier | None = None) -> dict:
    """Sweep, resuming whatever `cfg.out` already holds; returns the run's summary. `source` and
    `classifier` replace the ones cfg.data and cfg.model name (zoomhard.sweep's Python objects);
    such a sweep runs in this process on the classifier's device."""
    given = source is not None or classifier is not None
    with terminate_as_interrupt():
        if cfg.engine == "ray":
            if given:
                raise UsageError("engine='ray' needs a model spec and a data spec, not Python objects")
            from .engines.ray import run_ray_sweep

            return run_ray_sweep(cfg, log)
        store = RunStore(cfg.out, log=log)
        if not cfg.child:  # before the model loads: a second writer stops at once
            store.lock(cfg.shard)
        try:
            return _open_and_sweep(cfg, log, store, source, classifier)
        finally:
            store.close()


def _open_and_sweep(cfg: SweepConfig, log: Callable[[str], None], store: RunStore, source: Source | None,
                    classifier: Classifier | None) -> dict:
    source = source or run_source(cfg)
    resolve_subset(cfg.subset, source)  # a wrong --subset fails before the model loads
    gpus = 0
    if cfg.device in ("auto", "cuda") and cfg.shard is None and not cfg.child and classifier is None:
        import torch

        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    classifier = classifier or run_classifier(cfg, "cuda:0" if gpus > 1 else cfg.device)
    weights_note(classifier.weights, log)
    resize = _resize_mode(cfg, classifier)
    order = learned_order(cfg.grid, cfg.order) if cfg.until_correct else None
    space = class_space(cfg.subset, source, classifier.num_classes)
    allowed, groups = space.allowed, space.groups
    # A per-GPU worker writes under its parent's lock; a --shard process takes its shard's.
    store.open({
        **run_identity(cfg, source, space),
        "classifier": classifier.describe(),
        "resize": resize,
        "batch_size": cfg.batch_size,
        "order": [z.id for z in order] if order else None,
    }, shard=cfg.shard, lock=not cfg.child, session={"device": classifier.device})
    return _sweep_local(cfg, log, source, classifier, resize, order, allowed, groups, store, gpus)


def _sweep_local(cfg, log, source, classifier, resize, order, allowed, groups, store, gpus) -> dict:
    workers = _spawn_gpu_workers(cfg, gpus) if gpus > 1 else []
    shard = (0, gpus) if gpus > 1 else cfg.shard

    def mine() -> Iterator[Item]:
        return (it for i, it in enumerate(source) if shard is None or i % shard[1] == shard[0])

    skip = done_before(cfg, store, source, log)
    total = len(source) if shard is None else len(range(shard[0], len(source), shard[1]))

    started, counts = time.time(), {"images": 0, "unreadable": 0}
    batcher = Batcher(classifier, cfg.batch_size, cfg.grid.crop)
    bar = _progress(total, 0, cfg.progress and not cfg.child)

    def todo() -> Iterator[Item]:
        """The source in one pass: images already done only move the progress bar."""
        for it in mine():
            if it.image_id in skip:
                bar.update(1)
            else:
                yield it

    try:
        if order is not None:
            _until_correct(cfg, todo(), order, classifier, resize, batcher, allowed, groups, store, bar, counts)
        else:
            _full(cfg, todo(), classifier, resize, batcher, allowed, groups, store, bar, counts, started)
    except BaseException:
        for p in workers:  # Ctrl-C or SIGTERM here: the workers flush what they finished, too
            p.terminate()
        raise
    finally:
        batcher.close()
        bar.close()
        end_session(store, started, counts["images"], counts["unreadable"], batcher.crops_done)
        for p in workers:  # the workers write under this process's lock: it waits for them
            p.join()
    for p in workers:
        if p.exitcode != 0:
            raise RuntimeError(f"the sweep process of one GPU failed (exit code {p.exitcode}); "
                               "run the same command again to resume")
    return summarize(store, cfg.grid) if cfg.child else write_summary(store, cfg.grid)


def _full(cfg, todo, classifier, resize, batcher, allowed, groups, store, bar, counts, started) -> None:
    """Every transform of every image; finished images flushed at least every flush_seconds."""
    finished: list[ImageCrops] = []
    last_flush = time.time()
    mode = "array" if resize == "device" else "crops"

    def crops_of(p: Prepared) -> ImageCrops:
        crops = device_grid_crops(p.data, cfg.grid, classifier.device) if resize == "device" else p.data
        return image_crops(p, crops, classifier.num_classes)

    try:
        for p, completed in classify(grid_prefetch(todo, cfg.grid, cfg.workers, mode), batcher, crops_of):
            if p is not None and not p.ok:
                store.record_error(p.item.image_id, p.reason)
                counts["unreadable"] += 1
                bar.update(1)
                continue
            finished += completed
            counts["images"] += len(completed)
            bar.update(len(completed))
            if p is None:
                break
            bar.set_postfix(crops_s=f"{batcher.crops_done / max(time.time() - started, 1e-9):.0f}", refresh=False)
            if finished and time.time() - last_flush > cfg.flush_seconds:
                store.write_part(*prediction_tables(finished, cfg.grid, allowed, groups))
                finished, last_flush = [], time.time()
    finally:
        if finished:  # whatever completed is kept, even on Ctrl-C
            store.write_part(*prediction_tables(finished, cfg.grid, allowed, groups))


def _until_correct(cfg, todo, order, classifier, resize, batcher, allowed, groups, store, bar, counts) -> None:
    """Blocks of images go through the order in stages; after each stage the solved images
    drop out. Each block is written as one part once all its images are settled."""
    ends = [e for e in UNTIL_CORRECT_STAGES if e < len(order)] + [len(order)]
    block_size = max(1, cfg.batch_size // 4)
    mode = "array" if resize == "device" else "image"

    def crop_fn(data, grid, scales):
        if resize == "device":
            return device_grid_crops(data, grid, classifier.device, scales)
        return grid_crops(data, grid, scales)

    block: list = []
    for p in _with_end(grid_prefetch(todo, cfg.grid, cfg.workers, mode)):
        if p is not None:
            if p.ok:
                block.append(p)
            else:
                store.record_error(p.item.image_id, p.reason)
                counts["unreadable"] += 1
                bar.update(1)
        if block and (p is None or len(block) == block_size):
            entries, unsolved, start = [], block, 0
            for end in ends:
                stage = []
                for u in unsolved:
                    zooms = order[start:end]
                    im = image_crops(u, zoom_crops(u.data, zooms, cfg.grid, crop_fn), classifier.num_classes, zooms)
                    stage.append(im)
                    batcher.add(im)
                batcher.run()
                entries += stage
                for im in stage:
                    im.scores = score(im.logits, im.item.labels, allowed, groups)
                solved = {im.item.image_id for im in stage if im.scores["correct"].any()}
                unsolved = [u for u in unsolved if u.item.image_id not in solved]
                start = end
                if not unsolved:
                    break
            store.write_part(*prediction_tables(entries, cfg.grid, allowed, groups))
            counts["images"] += len(block)
            bar.update(len(block))
            block = []


def _with_end(stream: Iterator) -> Iterator:
    yield from stream
    yield None


def _progress(total: int, initial: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="img", disable=not enabled, dynamic_ncols=True,
                smoothing=0.1, desc="sweep")


def format_summary(summary: dict, out: str) -> str:
    if not summary["images"]:
        return f"no images swept ({summary['unreadable']} unreadable) -> {out}"
    standard = "not evaluated" if summary["standard_top1"] is None else f"{summary['standard_top1']:.2%}"
    evaluated = "" if summary["evaluated"] >= 1 else f" ({summary['evaluated']:.1%} of the grid evaluated)"
    return (f"{summary['images']} images x {summary['transforms']} transforms: "
            f"standard 1-crop ({summary['standard']}) top-1 {standard}, "
            f"upper bound {summary['upper_bound']:.2%}{evaluated}, {summary['unreadable']} unreadable -> {out}")
