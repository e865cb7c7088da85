"""The sweep on this machine: worker threads decode and cut crops while the classifier runs.

    session.pending() -> pipeline: decode once, resize once per scale, cut all anchors (threads)
                      -> batches that cross image boundaries -> classifier -> scored here
                      -> Session -> run folder

On CUDA the workers only decode; each scale is resized on the GPU (`--resize device`), and
several GPUs each take a shard of the images (one process per GPU, writing under this process's
lock). `--until-correct` (sweep.until_correct) tries the transforms in a learned order and stops
at the first correct one per image: the same upper bound as the full sweep for a fraction of the work.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, Iterator

from .config import SweepConfig
from ..crops import device_grid_crops
from ..data import Item, Source
from ..errors import UsageError
from ..grid import Zoom
from ..models import Classifier
from ..models.weights import weights_note
from ..pipeline import Batcher, ImageCrops, Prepared, classify, grid_prefetch, image_crops
from ..protocols import class_space, resolve_subset
from ..runs.store import RunStore
from .inputs import run_classifier, run_source
from .rows import scored
from .session import PARENT, Execution, Session
from .signals import terminate_as_interrupt
from .until_correct import learned_order, until_correct


def run_local(cfg: SweepConfig, log: Callable[[str], None] = print, source: Source | None = None,
              classifier: Classifier | None = None, execution: Execution = PARENT) -> dict:
    """Sweep here, resuming whatever `cfg.out` holds; `source` and `classifier` replace the ones
    cfg.setup.data and cfg.setup.model name (then the sweep runs on the classifier's device). `execution`:
    how this process takes part (a per-GPU worker is started with its own)."""
    store = RunStore(cfg.out, log=log)
    if not execution.child:  # before the model loads: a second writer stops at once
        store.lock(cfg.shard)
    try:
        return _open_and_sweep(cfg, log, store, source, classifier, execution)
    finally:
        store.close()


def _open_and_sweep(cfg: SweepConfig, log: Callable[[str], None], store: RunStore, source: Source | None,
                    classifier: Classifier | None, execution: Execution) -> dict:
    setup = cfg.setup
    source = run_source(cfg, source)
    resolve_subset(setup.subset, source)  # a wrong --subset fails before the model loads
    device = execution.device or setup.device
    gpus = 0
    if device in ("auto", "cuda") and cfg.shard is None and not execution.child and classifier is None:
        import torch

        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    classifier = classifier or run_classifier(cfg, "cuda:0" if gpus > 1 else device)
    weights_note(classifier.weights, log)
    resize = resize_mode(cfg, classifier)
    order = learned_order(cfg.grid, cfg.order) if cfg.until_correct else None
    space = class_space(setup.subset, source, classifier.num_classes)
    # A per-GPU worker writes under its parent's lock; a --shard process takes its shard's.
    session = Session.open(cfg, store, source, space, log, classifier.describe(), resize, order, classifier,
                           execution, shard=cfg.shard, session={"device": classifier.device})
    return _sweep(session, resize, order, gpus)


def _sweep(session: Session, resize: str, order: list[Zoom] | None, gpus: int) -> dict:
    cfg, source = session.cfg, session.source
    workers = _spawn_gpu_workers(cfg, gpus) if gpus > 1 else []
    shard = (0, gpus) if gpus > 1 else cfg.shard

    def mine() -> Iterator[Item]:
        return (it for i, it in enumerate(source) if shard is None or i % shard[1] == shard[0])

    session.start(len(source) if shard is None else len(range(shard[0], len(source), shard[1])))
    batcher = Batcher(session.classifier, cfg.batch_size, cfg.grid.crop)
    try:
        if order is not None:
            until_correct(session, session.pending(mine()), order, resize, batcher)
        else:
            _full(session, session.pending(mine()), resize, batcher)
    except BaseException:
        for p in workers:  # Ctrl-C or SIGTERM here: the workers flush what they finished, too
            p.terminate()
        raise
    finally:
        batcher.close()
        session.crops = batcher.crops_done
        session.close()
        for p in workers:  # the workers write under this process's lock: it waits for them
            p.join()
    for p in workers:
        if p.exitcode != 0:
            raise RuntimeError(f"the sweep process of one GPU failed (exit code {p.exitcode}); "
                               "run the same command again to resume")
    return session.summary()


def _full(session: Session, todo: Iterator[Item], resize: str, batcher: Batcher) -> None:
    """Every transform of every image; finished images flushed at least every flush_seconds."""
    cfg, classifier, space = session.cfg, session.classifier, session.space

    def crops_of(p: Prepared) -> ImageCrops:
        crops = device_grid_crops(p.data, cfg.grid, classifier.device) if resize == "device" else p.data
        return image_crops(p, crops, classifier.num_classes)

    mode = "array" if resize == "device" else "crops"
    for p, completed in classify(grid_prefetch(todo, cfg.grid, cfg.workers, mode), batcher, crops_of):
        if p is not None and not p.ok:
            session.unusable(p.item.image_id, p.reason, p.fault)
            continue
        session.finished([scored(im, space) for im in completed])
        session.crops = batcher.crops_done
        session.show_speed()
        session.flush_due()


def resize_mode(cfg: SweepConfig, classifier: Classifier) -> str:
    """Where crops are resized: 'pil' in the workers, or 'device' (torch on the model's device)."""
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
        p = ctx.Process(target=gpu_worker, args=(replace(cfg, shard=(k, n), progress=False),
                                                 Execution(child=True, device=f"cuda:{k}")), daemon=False)
        p.start()
        procs.append(p)
    return procs


def gpu_worker(cfg: SweepConfig, execution: Execution) -> None:
    """One GPU's sweep process: its shard of the images, stopped by SIGTERM as by Ctrl-C."""
    with terminate_as_interrupt():
        run_local(cfg, log=print, execution=execution)
