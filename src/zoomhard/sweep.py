"""The sweep: every image of a source, through every transform of a grid, by one classifier.

    source -> (worker threads) decode once, resize once per scale, cut all anchors
           -> batches that cross image boundaries -> classifier -> scores -> run folder

Decoding and resizing run in threads (Pillow releases the GIL) while the classifier runs, so
the model stays busy. Only a few images' crops are alive at once, so memory does not grow with
the dataset. Completed images are flushed to the run folder in atomic parts; a run started
again skips every image already written or recorded as unusable.
"""

from __future__ import annotations

import os
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

import numpy as np
import pyarrow as pa

from . import analysis
from . import labels as L
from .crops import ImageDecodeError, decode_image, grid_crops
from .data import Item, Source, open_source
from .grid import ZoomGrid
from .models import Classifier, load_classifier
from .store import IMAGES, PREDICTIONS, RunStore

SUBSET_CHOICES = ("auto", "none") + L.SUBSETS


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
    flush_seconds: float = 30.0       # how much finished work a kill can cost, at most
    progress: bool = True
    engine: str = "local"             # local | ray (zoomhard.engines)
    ray_address: str | None = None    # join this Ray cluster; None: start a local one


def resolve_subset(name: str, source: Source) -> tuple[str, tuple[int, ...] | None]:
    if name not in SUBSET_CHOICES:
        raise ValueError(f"unknown subset {name!r}; choose one of: {', '.join(SUBSET_CHOICES)}")
    if name == "none":
        return "none", None
    if name == "auto":
        subset = source.auto_subset
        return ("folders-present" if subset else "none"), subset
    return name, L.subset_indices(name)


@dataclass
class _Image:
    item: Item
    size: tuple[int, int]
    crops: np.ndarray | None
    logits: np.ndarray
    remaining: int


def prepare_item(item: Item, grid: ZoomGrid) -> tuple[Item, np.ndarray | None, tuple[int, int] | str]:
    if not item.labels:
        return item, None, "no ImageNet-1k label"
    try:
        img = decode_image(item.read())
        return item, grid_crops(img, grid), img.size
    except ImageDecodeError as e:
        return item, None, str(e)
    except Exception as e:  # never let one image end the run; record why instead
        return item, None, f"{type(e).__name__}: {e}"


def _ordered_prefetch(items: Iterable[Item], grid: ZoomGrid, workers: int) -> Iterator:
    """Map prepare_item over items in threads, in order, with only a few images in flight."""
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="crops") as pool:
        window: deque = deque()
        for item in items:
            window.append(pool.submit(prepare_item, item, grid))
            if len(window) > workers:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()


def score(logits: np.ndarray, labels: tuple[int, ...], allowed: np.ndarray | None) -> dict:
    """Top-1/top-5 (within `allowed` classes), correctness and the best label's probability."""
    logits = logits.astype(np.float32, copy=True)
    if allowed is not None:
        logits[:, ~allowed] = -np.inf
    logits -= logits.max(axis=1, keepdims=True)
    prob = np.exp(logits)
    prob /= prob.sum(axis=1, keepdims=True)
    k = min(5, prob.shape[1])
    top5 = np.argpartition(-prob, k - 1, axis=1)[:, :k]
    order = np.take_along_axis(prob, top5, axis=1).argsort(axis=1)[:, ::-1]
    top5 = np.take_along_axis(top5, order, axis=1)
    top1 = top5[:, 0]
    lab = np.asarray(labels, dtype=np.int64)
    return {
        "top1": top1,
        "correct": np.isin(top1, lab),
        "top5": top5,
        "top5_prob": np.take_along_axis(prob, top5, axis=1),
        "label_prob": prob[:, lab].max(axis=1) if len(lab) else np.zeros(len(prob), np.float32),
    }


class _Batcher:
    """Packs crops of consecutive images into fixed-size batches and hands logits back."""

    def __init__(self, classifier: Classifier, batch_size: int, crop: int):
        self.classifier = classifier
        self.buf = np.empty((batch_size, crop, crop, 3), dtype=np.uint8)
        self.fill = 0
        self.owners: list[tuple[_Image, int, int, int]] = []  # image, offset in image, count, offset in batch
        self.crops_done = 0

    def add(self, image: _Image) -> list[_Image]:
        done: list[_Image] = []
        n, off = len(image.crops), 0
        while off < n:
            k = min(len(self.buf) - self.fill, n - off)
            self.buf[self.fill:self.fill + k] = image.crops[off:off + k]
            self.owners.append((image, off, k, self.fill))
            self.fill += k
            off += k
            if self.fill == len(self.buf):
                done += self.run()
        image.crops = None  # copied into batches: free it now
        return done

    def run(self) -> list[_Image]:
        if not self.fill:
            return []
        logits = self.classifier.logits(self.buf[:self.fill])
        done = []
        for image, off, k, b in self.owners:
            image.logits[off:off + k] = logits[b:b + k]
            image.remaining -= k
            if image.remaining == 0:
                done.append(image)
        self.crops_done += self.fill
        self.fill, self.owners = 0, []
        return done


def prediction_tables(images: list[_Image], grid: ZoomGrid, allowed: np.ndarray | None) -> tuple[pa.Table, pa.Table]:
    zooms = list(grid)
    n = len(zooms)
    scales = np.array([z.scale for z in zooms], np.int16)
    rows = np.array([z.row for z in zooms], np.int8)
    cols = np.array([z.col for z in zooms], np.int8)
    parts = [score(im.logits, im.item.labels, allowed) for im in images]
    cat = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    predictions = pa.table({
        "image_id": pa.array(np.repeat([im.item.image_id for im in images], n)),
        "scale": np.tile(scales, len(images)),
        "row": np.tile(rows, len(images)),
        "col": np.tile(cols, len(images)),
        "top1": cat["top1"].astype(np.int16),
        "correct": cat["correct"],
        "top5": pa.FixedSizeListArray.from_arrays(cat["top5"].astype(np.int16).ravel(), 5).cast(pa.list_(pa.int16())),
        "top5_prob": pa.FixedSizeListArray.from_arrays(cat["top5_prob"].astype(np.float32).ravel(), 5)
                       .cast(pa.list_(pa.float32())),
        "label_prob": cat["label_prob"].astype(np.float32),
    }, schema=PREDICTIONS)
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
    return {"images": len(c.image_ids), "transforms": len(grid), "standard": grid.standard.id,
            "standard_top1": analysis.standard_top1(c, grid), "upper_bound": analysis.upper_bound(c),
            "unreadable": len(store.errors())}


def run_sweep(cfg: SweepConfig, log: Callable[[str], None] = print) -> dict:
    """Sweep, resuming whatever `cfg.out` already holds; returns the run's summary."""
    if cfg.engine == "ray":
        from .engines.ray import run_ray_sweep

        return run_ray_sweep(cfg, log)
    source = open_source(cfg.data, labels=cfg.labels)
    subset_name, subset = resolve_subset(cfg.subset, source)
    classifier = load_classifier(cfg.model, cfg.weights, cfg.backend, cfg.device, crop=cfg.grid.crop,
                                 mean=cfg.mean, std=cfg.std)
    allowed = None
    if subset is not None:
        allowed = np.zeros(classifier.num_classes, dtype=bool)
        allowed[list(subset)] = True
    data_identity = {k: v for k, v in source.describe().items() if k != "images"}
    store = RunStore(cfg.out)
    config = store.open({
        "model": cfg.model,
        "weights": os.path.abspath(cfg.weights) if cfg.weights else None,
        "grid": cfg.grid.to_dict(),
        "data": data_identity,
        "subset": {"name": subset_name, "classes": len(subset) if subset else classifier.num_classes},
        "classifier": classifier.describe(),
        "batch_size": cfg.batch_size,
    })
    skip = store.done_ids() | set(store.errors())
    already = sum(1 for it in source if it.image_id in skip) if skip else 0
    if already:
        log(f"resuming {cfg.out}: {already} of {len(source)} images already done")

    started, images_done, errors = time.time(), 0, 0
    batcher = _Batcher(classifier, cfg.batch_size, cfg.grid.crop)
    finished: list[_Image] = []
    last_flush = time.time()

    def flush() -> None:
        nonlocal finished, last_flush
        if finished:
            store.write_part(*prediction_tables(finished, cfg.grid, allowed))
            finished = []
        last_flush = time.time()

    bar = _progress(len(source), already, cfg.progress)
    try:
        todo = (it for it in source if it.image_id not in skip)
        for item, crops, info in _ordered_prefetch(todo, cfg.grid, cfg.workers):
            if crops is None:
                store.record_error(item.image_id, str(info))
                errors += 1
                bar.update(1)
                continue
            image = _Image(item, info, crops, np.empty((len(crops), classifier.num_classes), np.float32), len(crops))
            completed = batcher.add(image)
            finished += completed
            images_done += len(completed)
            bar.update(len(completed))
            bar.set_postfix(crops_s=f"{batcher.crops_done / max(time.time() - started, 1e-9):.0f}", refresh=False)
            if time.time() - last_flush > cfg.flush_seconds:
                flush()
        completed = batcher.run()
        finished += completed
        images_done += len(completed)
        bar.update(len(completed))
    finally:
        flush()  # whatever completed is kept, even on Ctrl-C
        bar.close()
        elapsed = time.time() - started
        config["sessions"][-1].update(ended=time.time(), seconds=round(elapsed, 3), images=images_done,
                                      unreadable=errors, crops=batcher.crops_done,
                                      crops_per_second=round(batcher.crops_done / max(elapsed, 1e-9), 2))
        store.write_config(config)
    summary = summarize(store, cfg.grid)
    config["summary"] = summary
    store.write_config(config)
    return summary


def _progress(total: int, initial: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="img", disable=not enabled, dynamic_ncols=True,
                smoothing=0.1, desc="sweep")


def format_summary(summary: dict, out: str) -> str:
    return (f"{summary['images']} images x {summary['transforms']} transforms: "
            f"standard 1-crop ({summary['standard']}) top-1 {summary['standard_top1']:.2%}, "
            f"upper bound {summary['upper_bound']:.2%}, {summary['unreadable']} unreadable -> {out}")
