"""The sweep as a Ray Data pipeline, on a Ray cluster or on a local one.

    driver: source items not yet done, in waves -> ray.data
        -> decode + cut crops          CPU tasks, one image each (zoomhard.pipeline.prepare_item)
        -> classify                    actor pool: one model per GPU, or per CPU slot
    driver: logits scored (protocols.score) -> the session (sweep.session): flushes, errors,
            progress, as the local engine's -> the same Parquet parts

Only the driver writes, each image once, so the run folder is the local engine's: resumable by
either engine. A killed actor is restarted and its unfinished batch retried (Ray's actor fault
tolerance); a killed crop task is retried; a killed driver resumes like any run.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import replace
from functools import partial
from typing import Callable, Iterator

import numpy as np

from .config import SweepConfig
from ..crops import grid_crops
from ..data import Item, Source
from ..errors import UsageError
from ..grid import ZoomGrid
from ..models import Classifier
from ..data.base import reason_fault
from ..pipeline import ScoredImage, prepare_item, unusable_reason
from ..protocols import class_space, resolve_subset, score
from ..runs.store import RunError, RunStore
from .inputs import run_classifier, run_source
from .session import Session

INSTALL_HINT = "pip install 'zoomhard[ray]'"
# The driver hands the cluster the images in waves of at most this many, or this many bytes.
WAVE_IMAGES = 10_000
WAVE_BYTES = 1 << 30


def import_ray():
    """Ray and Ray Data, or a user error that says how to install them."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as e:
        raise UsageError(f"--engine ray needs Ray Data ({e}); install it with: {INSTALL_HINT}") from None
    return ray


# -- the pipeline's steps (run in Ray workers) --------------------------------------------------

def _crop_batch(batch: dict, grid: ZoomGrid) -> dict:
    """One image per call: decode it once, cut every crop of the grid. A failure becomes an
    `error` row (all-zero crops keep the column one fixed-shape tensor)."""
    n, c = len(grid), grid.crop
    out = {"image_id": [], "width": [], "height": [], "error": [], "fault": [], "crops": []}
    for i in range(len(batch["image_id"])):
        item = Item(str(batch["image_id"][i]), tuple(int(v) for v in batch["labels"][i]), str(batch["origin"][i]),
                    str(batch["locator"][i]), bytes(batch["payload"][i]) or None)
        p = prepare_item(item, partial(grid_crops, grid=grid))
        out["image_id"].append(item.image_id)
        out["width"].append(p.size[0] if p.ok else 0)
        out["height"].append(p.size[1] if p.ok else 0)
        out["error"].append(p.reason or "")
        out["fault"].append(p.fault)
        out["crops"].append(p.data if p.ok else np.zeros((n, c, c, 3), np.uint8))
    return {"image_id": np.array(out["image_id"], dtype=object), "width": np.array(out["width"], np.int32),
            "height": np.array(out["height"], np.int32), "error": np.array(out["error"], dtype=object),
            "fault": np.array(out["fault"], dtype=object), "crops": np.stack(out["crops"])}


class Classify:
    """An actor holding one classifier, loaded once; crops of a batch of images -> logits."""

    def __init__(self, cfg: SweepConfig, device: str, threads: int):
        if threads:
            import torch

            torch.set_num_threads(threads)
        clf = run_classifier(cfg, device)
        from ..models.backends import OnnxClassifier

        if threads and isinstance(clf, OnnxClassifier):  # ONNX Runtime would take every core
            clf = OnnxClassifier(clf.spec, clf.path, clf.preprocess, threads=threads)
        self.classifier, self.batch_size = clf, cfg.batch_size
        self.described = json.dumps(clf.describe())

    def __call__(self, batch: dict) -> dict:
        crops = batch["crops"]                     # (images, transforms, crop, crop, 3) uint8
        k, n = crops.shape[:2]
        ok = np.array([not e for e in batch["error"]], dtype=bool)
        flat = crops[ok].reshape(-1, *crops.shape[2:])
        logits = np.zeros((k, n, self.classifier.num_classes), np.float32)
        if len(flat):
            chunks = math.ceil(len(flat) / self.batch_size)  # even chunks: no tiny tail batch
            step = math.ceil(len(flat) / chunks)
            out = np.concatenate([self.classifier.logits(flat[i:i + step]) for i in range(0, len(flat), step)])
            logits[ok] = out.reshape(int(ok.sum()), n, -1)
        return {"image_id": batch["image_id"], "width": batch["width"], "height": batch["height"],
                "error": batch["error"], "fault": batch["fault"], "logits": logits,
                "classifier": np.array([self.described] * k, dtype=object)}


# -- the driver ----------------------------------------------------------------------------------

def _connect(ray, address: str | None) -> bool:
    """Join `address`, or start a local cluster; True when this call started Ray."""
    if address:
        _reachable(address)
    if ray.is_initialized():  # joined already (a library caller, the tests): use that cluster
        return False
    # Workers' logs stay in Ray's session folder; failures reach the driver as exceptions.
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    quiet = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    if address:
        try:
            ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise UsageError(f"--ray-address {address}: cannot join the Ray cluster "
                             f"({str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__})") from None
    else:
        ray.init(num_cpus=os.cpu_count() or 1, **quiet)
    return True


def _reachable(address: str) -> None:
    """Fail in seconds on a HOST:PORT nobody listens on (Ray itself would retry for minutes)."""
    import socket

    host, sep, port = address.rpartition(":")
    if "://" in address or not sep or not port.isdigit():
        return  # auto, ray://..., a bare host: left to Ray
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as e:
        raise UsageError(f"--ray-address {address}: no Ray cluster answers there ({e.strerror or e})") from None


def plan_actors(cluster: dict, device: str) -> dict:
    """How many classifier actors, with what resources and how many threads each.

    GPUs: one actor per GPU. CPUs only: leave about a sixth of the CPUs (at least one) to the
    decode-and-crop tasks, which cost roughly a sixth of classifying; each actor reserves one CPU
    (two on larger clusters), and its threads share out the cluster's CPUs, so on a 2-CPU machine
    one actor reserves one CPU (crop tasks always get the other) and runs two threads. On one
    CPU the actor and the crop tasks each reserve half of it.
    """
    cpus = float(cluster.get("CPU", 1))
    gpus = int(cluster.get("GPU", 0))
    if device == "cuda" and not gpus:
        raise UsageError("--device cuda: the Ray cluster has no GPUs")
    crop_cpus = 1 if cpus >= 2 else cpus / 2
    if gpus and device != "cpu":
        return {"actors": gpus, "num_cpus": 1, "num_gpus": 1, "threads": 0, "crop_cpus": crop_cpus,
                "device": "cuda" if device == "auto" else device}
    if cpus < 2:
        return {"actors": 1, "num_cpus": cpus / 2, "num_gpus": 0, "threads": 1, "crop_cpus": crop_cpus, "device": "cpu"}
    reserve = max(1, math.ceil(cpus / 6))
    per_actor = 1 if cpus <= 4 else 2
    actors = max(1, int(cpus - reserve) // per_actor)
    return {"actors": actors, "num_cpus": per_actor, "num_gpus": 0, "threads": max(1, int(cpus) // actors),
            "crop_cpus": crop_cpus, "device": "cpu"}


def run_ray_sweep(cfg: SweepConfig, log: Callable[[str], None] = print, source: Source | None = None,
                  classifier: Classifier | None = None) -> dict:
    """zoomhard.sweep.run_sweep on Ray: the same run folder, the same rows, resumable by either.
    The cluster builds its own model and source from the specs: Python objects cannot travel."""
    if source is not None or classifier is not None:
        raise UsageError("engine='ray' needs a model spec and a data spec, not Python objects")
    ray = import_ray()
    if cfg.until_correct or cfg.shard:
        raise UsageError("--until-correct and --shard run on the local engine; Ray shards the images itself")
    setup = cfg.setup
    source = run_source(cfg)
    resolve_subset(setup.subset, source)  # a wrong --subset fails before the model loads
    # Load once here, on the CPU (the driver may have no GPU): a wrong spec or weights file fails
    # before any cluster work, and the ONNX export is cached for the actors on this node.
    probe = run_classifier(cfg, "cpu")
    described = probe.describe()
    space = class_space(setup.subset, source, probe.num_classes)
    del probe

    started_ray = _connect(ray, cfg.ray_address)
    try:
        plan = plan_actors(ray.cluster_resources(), setup.device)
        store = RunStore(cfg.out, log=log)
        try:
            session = Session.open(cfg, store, source, space, log, described, resize="pil",
                                   session={"engine": {"name": "ray", "address": cfg.ray_address, **plan}})
            return _sweep(ray, session, plan)
        finally:
            store.close()
    finally:
        if started_ray:
            ray.shutdown()


def _dataset(ray, cfg: SweepConfig, items: list[Item], plan: dict):
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = False
    for quiet in ("enable_progress_bars", "print_on_execution_start"):
        if hasattr(ctx, quiet):
            setattr(ctx, quiet, False)
    logging.getLogger("ray.data").setLevel(logging.ERROR)  # our own progress bar says how far it is

    # b"" for "read it from the locator": a None would turn the column into floats
    rows = [{"image_id": it.image_id, "labels": list(it.labels), "origin": it.origin, "locator": it.locator,
             "payload": it.payload or b""} for it in items]
    blocks = len(rows)  # one image per crop task (a wave is at most WAVE_IMAGES)
    ds = ray.data.from_items(rows, **{"override_num_blocks" if _has_param(ray.data.from_items, "override_num_blocks")
                                      else "parallelism": blocks})
    # Ray Data retries a killed task, and restarts a killed actor and retries its batch, by
    # default (max_retries / max_restarts / max_task_retries = -1).
    # A crop task holds one image's crops, twice at most (the list and the stacked batch). The
    # reservation also keeps Ray Data from fusing the crop step into the classifier actors,
    # which would crop and classify in turn instead of side by side.
    crop_bytes = len(cfg.grid) * cfg.grid.crop ** 2 * 3
    ds = ds.map_batches(_crop_batch, fn_kwargs={"grid": cfg.grid}, batch_size=1, batch_format="numpy",
                        num_cpus=plan["crop_cpus"], memory=2 * crop_bytes + (64 << 20))
    per_call = max(1, round(cfg.batch_size / len(cfg.grid)))  # images per actor call
    return ds.map_batches(
        Classify, batch_size=per_call, batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=plan["actors"]),
        num_cpus=plan["num_cpus"], num_gpus=plan["num_gpus"] or None,
        fn_constructor_kwargs=dict(cfg=_weights_absolute(cfg),
                                   device=plan["device"], threads=plan["threads"]))


def _weights_absolute(cfg: SweepConfig) -> SweepConfig:
    """cfg with its weights file as an absolute path: the actors may run in another folder."""
    weights = cfg.setup.weights
    return replace(cfg, setup=replace(cfg.setup, weights=os.path.abspath(weights) if weights else None))


def _has_param(fn, name: str) -> bool:
    import inspect

    return name in inspect.signature(fn).parameters


def _waves(items: Iterator[Item]) -> Iterator[list[Item]]:
    """Consecutive groups of items, at most WAVE_IMAGES images or WAVE_BYTES of image bytes each."""
    wave, size = [], 0
    for it in items:
        wave.append(it)
        size += len(it.payload or b"")
        if len(wave) >= WAVE_IMAGES or size >= WAVE_BYTES:
            yield wave
            wave, size = [], 0
    if wave:
        yield wave


def _sweep(ray, session: Session, plan: dict) -> dict:
    cfg, store, space = session.cfg, session.store, session.space
    session.start(len(session.source))
    todo: dict[str, Item] = {}
    described = None

    def pending() -> Iterator[Item]:
        """Each image once; one with nothing to read or to score against is recorded without a
        trip to the cluster."""
        seen: set[str] = set()
        for it in session.pending(session.source):
            if it.image_id not in seen:
                seen.add(it.image_id)
                reason = unusable_reason(it)
                if reason:
                    session.unusable(it.image_id, reason, reason_fault(reason) if it.unusable else "image")
                else:
                    yield it

    try:
        # One Ray Data pipeline per wave: the driver never holds (nor puts in the object store)
        # more than a wave of image bytes, however large the source.
        for wave in _waves(pending()):
            todo = {it.image_id: it for it in wave}
            ds = _dataset(ray, cfg, wave, plan)
            for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
                if batch["classifier"][0] != described:  # as the actors run it
                    described = batch["classifier"][0]
                    store.update_config(classifier=json.loads(described))
                for i, image_id in enumerate(batch["image_id"]):
                    item = todo.pop(str(image_id), None)
                    if item is None:  # already written this session: never twice
                        continue
                    if batch["error"][i]:
                        session.unusable(item.image_id, str(batch["error"][i]), str(batch["fault"][i]))
                    else:
                        size = (int(batch["width"][i]), int(batch["height"][i]))
                        scores = score(batch["logits"][i], item.labels, space.allowed, space.groups)
                        session.finished([ScoredImage(item, size, scores)])
                        session.crops += len(cfg.grid)
                session.show_speed()
                session.flush_due()
            if todo:
                break
    finally:
        session.close()  # whatever completed is kept, even on Ctrl-C
    if todo:
        raise RunError(f"the Ray pipeline ended without {len(todo)} images; run the same command again to resume")
    return session.summary()
