"""One engine's pass over a run folder: a `Session`.

    Session.open(): the run folder opened with the run's identity (a folder holding another
                    run's results is refused, one of the same run resumed)
    pending():      the images not yet done; the rest only move the progress bar
    unusable() / finished(): each image recorded once, finished ones (scored by the engine)
                    flushed to the run folder at least every flush_seconds
    close():        the last flush and this session's counts into run.json

An engine (sweep.local, sweep.ray) turns pending images into scored ones; the session only
writes them, so every engine writes the same run folder, resumable by any other.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

from .config import SweepConfig
from ..data import Item, Source
from ..models import Classifier
from ..pipeline import ScoredImage, progress_bar
from ..protocols import ClassSpace
from ..runs.store import RunStore
from .identity import run_identity
from .rows import prediction_tables
from .signals import signals_held
from .summary import summarize, write_summary


@dataclass(frozen=True)
class Execution:
    """How this process takes part in a run, as its engine started it (never an option a user
    sets): a per-GPU worker (`child`) writes under its parent's lock, shows no progress bar and
    leaves run.json's summary to its parent; it runs its model on `device`."""
    child: bool = False
    device: str | None = None       # a per-GPU worker's GPU; None: the config's device


PARENT = Execution()


class Session:
    """One engine's pass over a run folder: what is done, what is left, and the writing of it."""

    def __init__(self, cfg: SweepConfig, store: RunStore, source: Source, space: ClassSpace,
                 log: Callable[[str], None], classifier: Classifier | None = None, execution: Execution = PARENT):
        self.cfg, self.store, self.source, self.space, self.log = cfg, store, source, space, log
        self.classifier = classifier      # None where the model runs elsewhere (the Ray driver)
        self.execution = execution
        self.images = self.unreadable = self.crops = 0  # this session's counts, into run.json
        self.started = time.time()
        self.bar = None
        self.done_before: set[str] = set()
        self._finished: list[ScoredImage] = []
        self._last_flush = time.time()

    @classmethod
    def open(cls, cfg: SweepConfig, store: RunStore, source: Source, space: ClassSpace, log: Callable[[str], None],
             described: dict, resize: str, order: list | None = None, classifier: Classifier | None = None,
             execution: Execution = PARENT, **store_options) -> "Session":
        """Open the run folder for this run (RunStore.open compares its identity with what the
        folder holds; a per-GPU worker takes no lock, its parent holds it) and start a session on it."""
        store.open({
            **run_identity(cfg, source, space),
            "classifier": described,
            "resize": resize,
            "batch_size": cfg.batch_size,
            "order": [z.id for z in order] if order else None,
        }, lock=not execution.child, **store_options)
        return cls(cfg, store, source, space, log, classifier, execution)

    def start(self, total: int) -> set[str]:
        """The ids already done (swept, or recorded unusable for the image's own fault: those of
        the environment's are tried again), said when any; the progress bar over `total`."""
        skip = self.store.done_ids() | set(self.store.errors(transient=False))
        if skip:
            self.log(f"resuming {self.cfg.out}: {len(skip)} of {len(self.source)} images already done")
        self.done_before = skip
        self.bar = progress_bar(total, self.cfg.progress and not self.execution.child)
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

    def finished(self, results: list[ScoredImage], images: int | None = None) -> None:
        """Scored images, written with the next flush. `images`: how many images they settle
        (under --until-correct an image has a result per stage tried); default one each."""
        images = len(results) if images is None else images
        self._finished += results
        self.images += images
        self.bar.update(images)

    def flush_due(self) -> None:
        """Write what finished once flush_seconds have passed since the last write."""
        if self._finished and time.time() - self._last_flush > self.cfg.flush_seconds:
            self.flush()

    def flush(self) -> None:
        """Write what finished as one part."""
        with signals_held():   # a stop asked for mid-write lands once the part and its clearing are done
            if self._finished:
                self.store.write_part(*prediction_tables(self._finished, self.cfg.grid))
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
        if self.execution.child:
            return summarize(self.store, self.cfg.grid)
        return write_summary(self.store, self.cfg.grid)
