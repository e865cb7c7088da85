"""What one sweep run needs, whatever engine runs it: a `Session`.

    SweepConfig -> run_source() / run_classifier() -> class space
                -> Session.open(): the run folder opened with the run's identity (a folder
                   holding another run's results is refused, one of the same run resumed)
                -> pending(): the images not yet done, the rest only move the progress bar
                -> unusable() / finished(): each image recorded once, finished ones flushed
                   to the run folder at least every flush_seconds
                -> close(): the last flush and this session's counts into run.json

An engine (zoomhard.engines) only turns pending images into logits; the session does the rest,
so every engine writes the same run folder, resumable by any other.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator

import numpy as np
import pyarrow as pa

from . import analysis, protocol
from .config import SweepConfig, open_classifier, open_data
from .data import Item, Source
from .data.base import unlabelled as _unlabelled
from .grid import ZoomGrid
from .models import Classifier
from .models.weights import weights_tag
from .pipeline import ImageCrops, progress_bar
from .protocols import ClassSpace, score
from .data.confine import source_roots
from .runs.files import file_sha256
from .spec import onnx_path
from .runs.store import IMAGES, PREDICTIONS, RunStore


def run_source(cfg: SweepConfig, source: Source | None = None) -> Source:
    """The images a sweep covers (`source`, or the data cfg names, relabelled with ReaL labels
    when asked); data without a single image is refused."""
    source = source if source is not None else open_data(cfg.setup)
    if len(source) == 0:
        from .data import DataError

        raise DataError(f"{'the data given' if cfg.data == 'python' else cfg.data} holds no images: nothing to "
                        "sweep; give a folder, file or list with at least one image")
    return source


def run_classifier(cfg: SweepConfig, device: str) -> Classifier:
    """The sweep's model on `device`; open_clip models take ImageNet's mean/std under the study protocol."""
    return open_classifier(cfg.setup, device, crop=cfg.grid.crop, clip_norm=protocol.clip_norm(cfg.protocol, None))


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
        "locator_roots": source_roots(source),   # recorded, not compared: where readers may read images
    }


def input_digests(cfg: SweepConfig, source: Source) -> dict[str, str]:
    """sha256 of the local files whose content decides the results under the same names: the
    weights (or the onnx:PATH model), the labels and ReaL labels files. A file replaced at the same
    path is then another run, not a resume."""
    inner = getattr(source, "inner", source)  # under a RelabelledSource
    files = {"weights": cfg.weights, "labels": getattr(inner, "labels_file", None), "real_labels": cfg.real_labels,
             "model": onnx_path(cfg.model)}
    return {what: file_sha256(path) for what, path in files.items() if path}


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
            "standard_preprocess": grid.describe_standard(),
            "standard_top1": analysis.standard_top1(c, grid) if analysis.standard_evaluated(c, grid) else None,
            "upper_bound": analysis.upper_bound(c),
            "evaluated": float(c.observed.mean()) if n else 0.0,
            **refused_counts(store.errors())}


def refused_counts(errors: dict[str, str]) -> dict:
    """errors.csv's images counted by why: no label to score against, or a file not read."""
    unlabelled = sum(map(_unlabelled, errors.values()))
    return {"unreadable": len(errors) - unlabelled, "unlabelled": unlabelled}


def write_summary(store: RunStore, grid: ZoomGrid) -> dict:
    """The run's summary over everything it holds, also kept in run.json."""
    config = store.read_config()
    summary = {**summarize(store, grid), "protocol": config.get("protocol", "native"),
               "weights_tag": config.get("weights_tag"),
               "activation": (config.get("classifier") or {}).get("activation")}
    store.update_config(summary=summary)
    return summary


class Session:
    """One engine's pass over a run folder: what is done, what is left, and the writing of it."""

    def __init__(self, cfg: SweepConfig, store: RunStore, source: Source, space: ClassSpace,
                 log: Callable[[str], None], classifier: Classifier | None = None):
        self.cfg, self.store, self.source, self.space, self.log = cfg, store, source, space, log
        self.classifier = classifier      # None where the model runs elsewhere (the Ray driver)
        self.images = self.unreadable = self.crops = 0  # this session's counts, into run.json
        self.started = time.time()
        self.bar = None
        self.done_before: set[str] = set()
        self._finished: list[ImageCrops] = []
        self._last_flush = time.time()

    @classmethod
    def open(cls, cfg: SweepConfig, store: RunStore, source: Source, space: ClassSpace, log: Callable[[str], None],
             described: dict, resize: str, order: list | None = None, classifier: Classifier | None = None,
             **store_options) -> "Session":
        """Open the run folder for this run (store.open compares its identity with what the
        folder holds) and start a session on it."""
        store.open({
            **run_identity(cfg, source, space),
            "classifier": described,
            "resize": resize,
            "batch_size": cfg.batch_size,
            "order": [z.id for z in order] if order else None,
        }, **store_options)
        return cls(cfg, store, source, space, log, classifier)

    def start(self, total: int) -> set[str]:
        """The ids already done (swept, or recorded unusable for the image's own fault: those of
        the environment's are tried again), said when any; the progress bar over `total`."""
        skip = self.store.done_ids() | set(self.store.errors(transient=False))
        if skip:
            self.log(f"resuming {self.cfg.out}: {len(skip)} of {len(self.source)} images already done")
        self.done_before = skip
        self.bar = progress_bar(total, self.cfg.progress and not self.cfg.child)
        return skip

    def pending(self, items: Iterable[Item]) -> Iterator[Item]:
        """`items` in one pass, less the ones done before: those only move the progress bar."""
        for it in items:
            if it.image_id in self.done_before:
                self.bar.update(1)
            else:
                yield it

    def unusable(self, image_id: str, reason: str, fault: str = "image") -> None:
        """An image that cannot be swept, recorded with why and whose fault (errors.csv): never
        tried again when it is the image's, tried again on resume when the environment's."""
        self.store.record_error(image_id, reason, fault)
        self.unreadable += 1
        self.bar.update(1)

    def finished(self, images: list[ImageCrops]) -> None:
        """Images with all their logits: written with the next flush."""
        self._finished += images
        self.images += len(images)
        self.bar.update(len(images))

    def settled(self, entries: list[ImageCrops], images: int) -> None:
        """`images` images settled at once (--until-correct: all their entries), written as one part."""
        self.write(entries)
        self.images += images
        self.bar.update(images)

    def write(self, entries: list[ImageCrops]) -> None:
        with signals_held():
            self._write(entries)

    def _write(self, entries: list[ImageCrops]) -> None:
        self.store.write_part(*prediction_tables(entries, self.cfg.grid, self.space.allowed, self.space.groups))

    def flush_due(self) -> None:
        """Write what finished once flush_seconds have passed since the last write."""
        if self._finished and time.time() - self._last_flush > self.cfg.flush_seconds:
            self.flush()

    def flush(self) -> None:
        with signals_held():   # a stop asked for mid-write lands once the part and its clearing are done
            if self._finished:
                self._write(self._finished)
                self._finished = []
            self._last_flush = time.time()

    def show_speed(self) -> None:
        self.bar.set_postfix(crops_s=f"{self.crops / max(time.time() - self.started, 1e-9):.0f}", refresh=False)

    def close(self) -> None:
        """The last flush (also on Ctrl-C: whatever completed is kept) and this session's entry of run.json."""
        try:
            self.flush()
        finally:
            if self.bar is not None:
                self.bar.close()
            elapsed = time.time() - self.started
            self.store.update_session(ended=time.time(), seconds=round(elapsed, 3), images=self.images,
                                      unreadable=self.unreadable, crops=self.crops,
                                      crops_per_second=round(self.crops / max(elapsed, 1e-9), 2))

    def summary(self) -> dict:
        """The run's summary; a per-GPU worker leaves run.json to its parent."""
        return summarize(self.store, self.cfg.grid) if self.cfg.child else write_summary(self.store, self.cfg.grid)


_held = 0            # depth of signals_held() blocks on the main thread
_asked: list = []    # the stop asked for while held: raised when the outermost block ends


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (kill, Slurm, Kubernetes, Docker) handled as Ctrl-C is: finished work is written
    before the process ends. Ctrl-C or SIGTERM during a write (signals_held) waits for the write
    to end. Only the main thread can take signals; elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        stop = Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()
        if _held:
            _asked.append(stop)
        else:
            raise stop

    ours = [signal.SIGTERM] + ([signal.SIGINT] if signal.getsignal(signal.SIGINT) is signal.default_int_handler
                               else [])   # an ignored Ctrl-C (a job started with &) stays ignored
    previous = {sig: signal.signal(sig, interrupt) for sig in ours}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _asked.clear()


@contextmanager
def signals_held() -> Iterator[None]:
    """A write a stop must not cut in half: a Ctrl-C or SIGTERM that arrives inside is raised
    as the block ends, the written rows and the session's memory of them agreeing."""
    global _held
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _held += 1
    try:
        yield
    finally:
        _held -= 1
        if not _held and _asked:
            stop = _asked[0]
            _asked.clear()
            raise stop


class Terminated(KeyboardInterrupt):
    """The process was asked to stop (SIGTERM)."""
