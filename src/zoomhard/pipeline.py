"""The one hot loop that sweep, bench, look and the Ray tasks share.

    items -> prefetch(): decode in worker threads, make what the model side needs of each image
          -> Prepared per image, in order (its data and size, or why it cannot be used)
          -> Batcher: crops of consecutive images packed into fixed-size batches, one batch in
             the classifier while the next is filled -> ImageCrops with their logits
          -> a sweep's engine scores them: ScoredImage, what the run folder is written from

Decoding and resizing run in threads (Pillow releases the GIL) while the classifier runs, so the
model stays busy; only a few images are prepared ahead, so memory does not grow with the data.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Callable, Iterable, Iterator

import numpy as np

from .crops import decode_image, grid_crops
from .data import Item
from .data.base import NO_LABEL, reason_fault
from .errors import ImageDecodeError, fault_of
from .grid import Zoom, ZoomGrid
from .models import Classifier



@dataclass
class Prepared:
    """One image after its worker: what `make` made of it and its size, or why it is unusable."""
    item: Item
    data: object | None = None          # None when the image cannot be used
    size: tuple[int, int] | None = None  # (width, height) of the decoded image
    reason: str | None = None           # why the image cannot be used (recorded in errors.csv)
    unlabelled: bool = False            # unusable for having no ImageNet-1k label, not for its file
    fault: str = "image"                # whose fault (errors.fault_of): "environment" is retried on resume

    @property
    def ok(self) -> bool:
        return self.reason is None

    def __iter__(self) -> Iterator:
        """Unpacks as the (item, data, size or reason) triple that callers of bench.eval_crops read."""
        return iter((self.item, self.data, self.size if self.ok else self.reason))


def unusable_reason(item: Item) -> str | None:
    """Why an item cannot be swept before its file is read (nothing to read, no label to score
    against), or None."""
    return item.unusable or (None if item.labels else NO_LABEL)


def prepare_item(item: Item, make: Callable) -> Prepared:
    """Decode one image in a worker and make what the model side needs of it (its grid crops,
    its RGB array, an eval crop). One image's failure never ends a run: it becomes the reason."""
    reason = unusable_reason(item)
    if reason:
        return Prepared(item, reason=reason, unlabelled=not item.unusable,
                        fault=reason_fault(reason) if item.unusable else "image")
    try:
        img = decode_image(item.read())
        return Prepared(item, make(img), img.size)
    except ImageDecodeError as e:
        return Prepared(item, reason=str(e), fault=e.fault)
    except Exception as e:  # never let one image end the run; record why instead
        return Prepared(item, reason=f"{type(e).__name__}: {e}" if str(e) else type(e).__name__, fault=fault_of(e))


def ordered_map(fn: Callable, items: Iterable, workers: int, ahead: int) -> Iterator:
    """fn over items in threads, results in order, at most `ahead` + 1 in flight (so memory
    stays flat however many items there are)."""
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="zoomhard") as pool:
        window: deque = deque()
        for item in items:
            window.append(pool.submit(fn, item))
            if len(window) > ahead:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()


def prefetch(items: Iterable[Item], make: Callable, workers: int, ahead: int | None = None) -> Iterator[Prepared]:
    """prepare_item over items in `workers` threads, in order, `ahead` images ahead of the model
    (default: as many as there are workers; a whole grid's crops each, so only a few)."""
    return ordered_map(partial(prepare_item, make=make), items, workers,
                       ahead=max(1, workers) if ahead is None else ahead)


def grid_prefetch(items: Iterable[Item], grid: ZoomGrid, workers: int, mode: str = "crops") -> Iterator[Prepared]:
    """prefetch making each image's grid crops ('crops'), its RGB array for resizing on the
    model's device ('array') or the image itself, cropped later a few transforms at a time ('image')."""
    make = {"crops": partial(grid_crops, grid=grid), "array": np.asarray, "image": lambda img: img}[mode]
    return prefetch(items, make, workers)


@dataclass
class ImageCrops:
    """The batcher's unit of work: an image's crops in, their logits out (all known once
    `remaining` is 0)."""
    item: Item
    size: tuple[int, int]
    crops: np.ndarray | None          # numpy, or a torch tensor already on the model's device
    logits: np.ndarray
    remaining: int
    zooms: list[Zoom] | None = None   # the transforms of `crops`; None: the whole grid


@dataclass(frozen=True)
class ScoredImage:
    """A finished image, as a sweep writes it: its transforms scored (protocols.score: top1,
    correct, top5, top5_prob, label_prob, one entry per transform)."""
    item: Item
    size: tuple[int, int]
    scores: dict
    zooms: list[Zoom] | None = None   # the transforms scored; None: the whole grid


def image_crops(p: Prepared, crops, num_classes: int, zooms: list[Zoom] | None = None,
                size: tuple[int, int] | None = None) -> ImageCrops:
    """A prepared image's crops (of `zooms`; None: the whole grid), waiting for their logits."""
    return ImageCrops(p.item, size or p.size, crops, np.empty((len(crops), num_classes), np.float32), len(crops),
                      zooms)


class Batcher:
    """Packs crops of consecutive images into fixed-size batches and hands logits back.

    One batch is in the classifier (in its own thread) while the next is filled and prepared:
    normalisation, copies and scoring overlap inference instead of stalling it."""

    def __init__(self, classifier: Classifier, batch_size: int, crop: int):
        self.classifier = classifier
        self.shape = (batch_size, crop, crop, 3)
        self.buf = None  # allocated like the first crops: numpy, or torch on their device
        self.fill = 0
        self.owners: list[tuple[ImageCrops, int, int, int]] = []  # image, offset in image, count, offset in batch
        self.crops_done = 0
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zoomhard-infer")
        self._inflight = None  # (future of logits, its owners)
        self._inputs = [None, None]  # prepared batches, reused in turn: one in the model, one being made

    def add(self, image: ImageCrops) -> list[ImageCrops]:
        """Queue an image's crops; returns the images whose logits are now all known."""
        done: list[ImageCrops] = []
        n, off = len(image.crops), 0
        if self.buf is None:
            if isinstance(image.crops, np.ndarray):
                self.buf = np.empty(self.shape, dtype=np.uint8)
            else:
                import torch

                self.buf = torch.empty(self.shape, dtype=torch.uint8, device=image.crops.device)
        size = len(self.buf)
        while off < n:
            if self.fill == 0 and n - off >= size:  # a whole batch of this image: no copy
                self.owners.append((image, off, size, 0))
                self.fill = size
                done += self._submit(image.crops[off:off + size])
                off += size
                continue
            k = min(size - self.fill, n - off)
            self.buf[self.fill:self.fill + k] = image.crops[off:off + k]
            self.owners.append((image, off, k, self.fill))
            self.fill += k
            off += k
            if self.fill == size:
                done += self._submit()
        image.crops = None  # all in batches now: free it
        return done

    def run(self) -> list[ImageCrops]:
        """Flush: every image added so far gets its logits."""
        return self._submit() + self._collect()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _submit(self, crops=None) -> list[ImageCrops]:
        """Prepare the batch (`crops`, else the buffer) and start it once the previous one is
        collected; returns the images the previous batch completed."""
        if not self.fill:
            return []
        crops = self.buf[:self.fill] if crops is None else crops
        free, busy = self._inputs  # busy: the batch in the model, free after _collect
        x = self.classifier.prepare(crops, free)  # while the previous batch runs
        if free is None and len(x) == len(self.buf):
            free = x
        self._inputs = [busy, free]
        done = self._collect()
        self._inflight = (self._pool.submit(self.classifier.infer, x), self.owners)
        self.fill, self.owners = 0, []
        return done

    def _collect(self) -> list[ImageCrops]:
        if self._inflight is None:
            return []
        future, owners = self._inflight
        self._inflight = None
        logits = future.result()
        done = []
        for image, off, k, b in owners:
            image.logits[off:off + k] = logits[b:b + k]
            image.remaining -= k
            if image.remaining == 0:
                done.append(image)
        self.crops_done += len(logits)
        return done


def classify(prepared: Iterable[Prepared], batcher: Batcher,
             crops_of: Callable[[Prepared], ImageCrops]) -> Iterator[tuple[Prepared | None, list[ImageCrops]]]:
    """The prepared images through the batcher, in order: per image (it, the images whose logits
    it completed; [] for an unusable one), then (None, the rest) once the last batch is run."""
    for p in prepared:
        yield p, (batcher.add(crops_of(p)) if p.ok else [])
    yield None, batcher.run()


def progress_bar(total: int, enabled: bool, desc: str = "sweep"):
    """The images/s and ETA bar of a loop over images (sweep, bench, tta)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=0, unit="img", disable=not enabled, dynamic_ncols=True, smoothing=0.1,
                desc=desc)
