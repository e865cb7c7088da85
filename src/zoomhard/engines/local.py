"""The sweep on this machine: worker threads decode and cut crops while the classifier runs.

    session.pending() -> pipeline: decode once, resize once per scale, cut all anchors (threads)
                      -> batches that cross image boundaries -> classifier -> Session -> run folder

On CUDA the workers only decode; each scale is resized on the GPU (`--resize device`), and
several GPUs each take a shard of the images (one process per GPU, writing under this process's
lock). `--until-correct` tries the transforms in a learned order and stops at the first correct
one per image: the same upper bound as the full sweep for a fraction of the work.
"""

from __future__ import annotations

import math
from typing import Callable, Iterator

from .. import analysis
from ..config import SweepConfig
from ..crops import device_grid_crops, grid_crops, zoom_crops
from ..data import Item, Source
from ..errors import UsageError
from ..grid import Zoom, ZoomGrid
from ..models import Classifier
from ..models.weights import weights_note
from ..pipeline import Batcher, ImageCrops, Prepared, classify, grid_prefetch, image_crops
from ..protocols import class_space, resolve_subset, score
from ..session import Session, run_classifier, run_source, terminate_as_interrupt
from ..runs.store import RunStore

# Transforms tried per image before each check under --until-correct (cumulative ends).
UNTIL_CORRECT_STAGES = (1, 9, 36, 108)


def run_local(cfg: SweepConfig, log: Callable[[str], None] = print, source: Source | None = None,
              classifier: Classifier | None = None) -> dict:
    """Sweep here, resuming whatever `cfg.out` holds; `source` and `classifier` replace the ones
    cfg.data and cfg.model name (then the sweep runs on the classifier's device)."""
    store = RunStore(cfg.out, log=log)
    if not cfg.child:  # before the model loads: a second writer stops at once
        store.lock(cfg.shard)
    try:
        return _open_and_sweep(cfg, log, store, source, classifier)
    finally:
        store.close()


def _open_and_sweep(cfg: SweepConfig, log: Callable[[str], None], store: RunStore, source: Source | None,
                    classifier: Classifier | None) -> dict:
    source = run_source(cfg, source)
    resolve_subset(cfg.subset, source)  # a wrong --subset fails before the model loads
    gpus = 0
    if cfg.device in ("auto", "cuda") and cfg.shard is None and not cfg.child and classifier is None:
        import torch

        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    classifier = classifier or run_classifier(cfg, "cuda:0" if gpus > 1 else cfg.device)
    weights_note(classifier.weights, log)
    resize = resize_mode(cfg, classifier)
    order = learned_order(cfg.grid, cfg.order) if cfg.until_correct else None
    space = class_space(cfg.subset, source, classifier.num_classes)
    # A per-GPU worker writes under its parent's lock; a --shard process takes its shard's.
    session = Session.open(cfg, store, source, space, log, classifier.describe(), resize, order, classifier,
                           shard=cfg.shard, lock=not cfg.child, session={"device": classifier.device})
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
            _until_correct(session, session.pending(mine()), order, resize, batcher)
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
    cfg, classifier = session.cfg, session.classifier

    def crops_of(p: Prepared) -> ImageCrops:
        crops = device_grid_crops(p.data, cfg.grid, classifier.device) if resize == "device" else p.data
        return image_crops(p, crops, classifier.num_classes)

    mode = "array" if resize == "device" else "crops"
    for p, completed in classify(grid_prefetch(todo, cfg.grid, cfg.workers, mode), batcher, crops_of):
        if p is not None and not p.ok:
            session.unusable(p.item.image_id, p.reason, p.fault)
            continue
        session.finished(completed)
        session.crops = batcher.crops_done
        session.show_speed()
        session.flush_due()


def _until_correct(session: Session, todo: Iterator[Item], order: list[Zoom], resize: str, batcher: Batcher) -> None:
    """Blocks of images go through the order in stages; after each stage the solved images
    drop out. Each block is written as one part once all its images are settled."""
    cfg, classifier, space = session.cfg, session.classifier, session.space
    ends = [e for e in UNTIL_CORRECT_STAGES if e < len(order)] + [len(order)]
    block_size = max(1, cfg.batch_size // 4)
    mode = "array" if resize == "device" else "image"

    def crop_fn(data, grid, scales):
        if resize == "device":
            return device_grid_crops(data, grid, classifier.device, scales)
        return grid_crops(data, grid, scales)

    block: list[Prepared] = []
    for p in _with_end(grid_prefetch(todo, cfg.grid, cfg.workers, mode)):
        if p is not None:
            if p.ok:
                block.append(p)
            else:
                session.unusable(p.item.image_id, p.reason, p.fault)
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
                    im.scores = score(im.logits, im.item.labels, space.allowed, space.groups)
                solved = {im.item.image_id for im in stage if im.scores["correct"].any()}
                unsolved = [u for u in unsolved if u.item.image_id not in solved]
                start = end
                if not unsolved:
                    break
            session.settled(entries, len(block))
            block = []


def _with_end(stream: Iterator) -> Iterator:
    yield from stream
    yield None


def resize_mode(cfg: SweepConfig, classifier: Classifier) -> str:
    """Where crops are resized: 'pil' in the workers, or 'device' (torch on the model's device)."""
    if cfg.resize not in ("auto", "pil", "device"):
        raise UsageError(f"unknown resize {cfg.resize!r}; choose one of: auto, pil, device")
    if cfg.resize == "auto":
        return "device" if classifier.device.startswith("cuda") else "pil"
    return cfg.resize


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


def _spawn_gpu_workers(cfg: SweepConfig, n: int) -> list:
    """One process per extra GPU, each sweeping its shard of the images into the same folder."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    procs = []
    for k in range(1, n):
        child = SweepConfig(**{**cfg.__dict__, "shard": (k, n), "device": f"cuda:{k}", "child": True,
                               "progress": False})
        p = ctx.Process(target=gpu_worker, args=(child,), daemon=False)
        p.start()
        procs.append(p)
    return procs


def gpu_worker(cfg: SweepConfig) -> None:
    """One GPU's sweep process: its shard of the images, stopped by SIGTERM as by Ctrl-C."""
    with terminate_as_interrupt():
        run_local(cfg, log=print)
