"""`zoomhard tta`: each method against the plain standard crop, on the same images.

    memo-augmix   MEMO as published: AugMix views (RandomResizedCrop 224 + flip, then AugMix)
    memo-rrc      the study's TTA: MEMO with RandomResizedCrop(224, bicubic, scale 0.08-1) views
    zoom-mean     mean softmax over zoom transforms (default: the grid's zoom-in part)
    zoom-max      max softmax over the same transforms

Every image is decoded once, in worker threads ahead of the model (zoomhard.pipeline), and its
standard crop cut once: the zoom grid's s256-r1c1 natively, MEMO's test crop (Resize(256)
bilinear + CenterCrop(224); ImageNet-C: CenterCrop(224)) under --protocol study. Model, data,
labels (ReaL included) and normalisation come from the same `Setup` as sweep's and bench's; an
image that cannot be used is recorded with its reason and the run goes on. The baseline and MEMO's final prediction see that crop; all methods see the
same images. Randomness is per image (seed, image id), and MEMO puts
the weights back after every image, so no image changes another's result and the order of the
images does not matter. Seconds per image count a method's own work (views or crops, model
calls, the update), not the shared decoding.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from .. import protocol
from .. import checks
from ..config import Setup, check_batching, check_setup, open_classifier, open_data
from ..crops import zoom_crop, zoom_crops
from ..data import DataError
from ..errors import UsageError
from ..grid import ZoomGrid
from ..models import Classifier, ModelError, load_model, parse_spec
from ..models.backends import TorchClassifier, resolve_device
from ..models.weights import weights_note
from ..pipeline import prefetch, progress_bar
from ..protocols import ClassSpace, choice_logits, class_space, masked_softmax, score
from ..stats import CI_RESAMPLES, bootstrap_ci, interval, mcnemar, mean_std, paired
from .zoom import ensemble, parse_transforms

METHODS = ("memo-augmix", "memo-rrc", "zoom-mean", "zoom-max")
GRADIENT_METHODS = ("memo-augmix", "memo-rrc")
RRC_SCALE = (0.08, 1.0)


def parse_methods(text: str) -> tuple[str, ...]:
    """'memo-rrc,zoom-max' -> ('memo-rrc', 'zoom-max'); unknown names list the valid ones."""
    names = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [n for n in names if n not in METHODS]
    if unknown or not names:
        raise UsageError(f"unknown method {', '.join(unknown) or repr(text)}; choose from: {', '.join(METHODS)}")
    return tuple(dict.fromkeys(names))


@dataclass
class TTAConfig:
    setup: Setup                     # the model, data and protocol, as sweep and bench take them
    methods: tuple[str, ...]
    views: int | None = None         # views per adaptation step (MEMO's batch); None: the protocol's (protocol.views)
    steps: int = 1                   # SGD steps per image
    lr: float = 0.00025              # MEMO's ImageNet learning rate, SGD without weight decay
    seed: int = 0
    seeds: tuple[int, ...] | None = None   # MEMO runs once per seed (mean and std reported); None: (seed,)
    match_views: bool = False        # zoom-*: the first `views` transforms, as many as MEMO's views
    ci_resamples: int = CI_RESAMPLES  # bootstrap resamples of each method's top1_ci (0: none)
    prior_strength: float = 16       # BN test-time prior; negative: plain running statistics
    transforms: str | None = None    # zoom-mean / zoom-max: ids or analysis.json[:K]
    batch_size: int = 64             # crops per classifier call (zoom methods)
    workers: int = min(4, os.cpu_count() or 1)  # decoding threads
    progress: bool = True
    grid: ZoomGrid = field(default_factory=ZoomGrid)
    imagenet_c: bool = False         # study: ImageNet-C's test crop, CenterCrop(224) alone

    def __post_init__(self):
        check_setup(self.setup, needs_data=True)
        if not isinstance(self.grid, ZoomGrid):
            raise UsageError(f"grid must be a zoomhard.ZoomGrid, not {type(self.grid).__name__}")
        check_batching(self)


def seed_list(text: str | None) -> tuple[int, ...] | None:
    """'0,1,2' -> (0, 1, 2); each seed once, in the order given."""
    if text is None:
        return None
    try:
        seeds = tuple(dict.fromkeys(int(t) for t in text.split(",") if t.strip()))
    except ValueError:
        seeds = ()
    if not seeds:
        raise UsageError(f"--seeds {text!r}: give comma-separated integers, e.g. 0,1,2")
    return seeds


@dataclass
class TTAReport:
    results: list[dict]                  # one per method: method, n, top1, baseline_top1, seconds_per_image
    images: list[dict]                   # one per image: image_id, baseline, each method's top1 / prob / correct
    skipped: dict[str, str]              # image id -> why it could not be used


class MemoRunner:
    """The torch side: one module, its normalisation on its device, one Memo per view kind."""

    def __init__(self, cfg: TTAConfig, members: np.ndarray | None, classifier: Classifier | None = None):
        """`classifier`: the run's classifier. A torch one lends its module, which MEMO then
        adapts (and restores) rather than holding a second copy of the weights; another (ONNX
        Runtime) has the module loaded beside it. Either way MEMO normalises as the classifier
        does (--mean/--std, --clip-norm)."""
        import torch

        from .memo import Memo

        if isinstance(classifier, TorchClassifier):
            module, preprocess, device = classifier.module, classifier.preprocess, classifier.device
        else:
            device = resolve_device(cfg.setup.device)
            module, preprocess = load_model(cfg.setup.model, cfg.setup.weights)
            if classifier is not None:
                preprocess = classifier.preprocess
        self.torch, self.device, self.cfg = torch, device, cfg
        # channels_last: the convolutions' forward and backward run about 1.3x faster on CPU too
        self.module = module.to(device).float().to(memory_format=torch.channels_last)
        self.mean = torch.tensor(preprocess.mean, device=device, dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(preprocess.std, device=device, dtype=torch.float32).view(1, 3, 1, 1)
        # a 1001-wide module (--drop-background): ImageNet's classes start at its second logit
        self.offset = classifier.label_offset if classifier is not None else 0
        if self.offset:
            members = (np.arange(1000)[:, None] if members is None else members) + self.offset
        self.memo = Memo(self.module, cfg.steps, cfg.lr, cfg.prior_strength, members)

    def normalize(self, u8):
        return (u8.float() / 255 - self.mean) / self.std

    def __call__(self, method: str, img, standard: np.ndarray, image_id: str, seed: int | None = None) -> np.ndarray:
        from .views import augmix_views, image_rng, rrc_views

        torch = self.torch
        rng = image_rng(self.cfg.seed if seed is None else seed, f"{method}\0{image_id}")
        image = torch.from_numpy(np.array(img)).to(self.device).permute(2, 0, 1).contiguous()  # views are made on the device
        if method == "memo-rrc":
            def make_views():
                return self.normalize(rrc_views(image, rng, self.cfg.views, standard.shape[0], RRC_SCALE, "bicubic"))
        else:
            def make_views():
                return augmix_views(image, rng, self.cfg.views, self.mean, self.std)
        std = self.normalize(torch.from_numpy(standard).to(self.device).permute(2, 0, 1)[None])
        return self.memo.adapt_predict(make_views, std)[0, self.offset:].cpu().numpy()


def run_tta(cfg: TTAConfig, log: Callable[[str], None] = print) -> TTAReport:
    methods = parse_methods(",".join(cfg.methods))
    check_batching(cfg)
    setup = cfg.setup
    checks.device(setup.device, here=True)
    cfg = replace(cfg, views=protocol.views(setup.protocol, cfg.views))
    if cfg.views < 1:
        raise UsageError("--views must be at least 1")
    zooms = parse_transforms(cfg.transforms, cfg.grid) if any(m.startswith("zoom") for m in methods) else []
    if cfg.match_views:   # like for like: as many zoom transforms as MEMO has views, the first of their order
        zooms = zooms[:cfg.views]
    seeds = cfg.seeds or (cfg.seed,)
    source = open_data(setup)

    gradient = [m for m in methods if m in GRADIENT_METHODS]
    if gradient and parse_spec(setup.model)[0] == "onnx":
        raise ModelError(f"{', '.join(gradient)} needs gradients, which an ONNX file cannot give: {setup.model} "
                         "has no torch module; use the model's torch spec (lite0, torchvision:NAME, timm:NAME)")
    if gradient and setup.backend == "onnx":
        log(f"{', '.join(gradient)} needs gradients: it runs the torch model; --backend onnx serves the rest")
    classifier = open_classifier(setup, "tta", crop=cfg.grid.crop)
    weights_note(classifier.weights, log)
    space = class_space(setup.subset, source, classifier.num_classes)
    memo = MemoRunner(cfg, space.members, classifier) if gradient else None
    standard_crop = standard_cropper(cfg)
    seconds = {m: 0.0 for m in methods}
    images: list[dict] = []
    skipped: dict[str, str] = {}
    bar = progress_bar(len(source), cfg.progress, "tta")
    try:
        for p in prefetch(source, lambda img: (img, standard_crop(img)), cfg.workers):
            bar.update(1)
            if not p.ok:
                skipped[p.item.image_id] = p.reason
                continue
            item, (img, standard) = p.item, p.data
            base = score(classifier.logits(standard[None]), item.labels, space.allowed, space.groups)
            row = {"image_id": item.image_id, "labels": list(item.labels),
                   "baseline_top1": int(base["top1"][0]), "baseline_correct": bool(base["correct"][0])}
            zoom_probs = None  # zoom-mean and zoom-max share the crops' softmax (and each is charged its time)
            for m in methods:
                t0, shared = time.perf_counter(), 0.0
                if m in GRADIENT_METHODS:
                    for s in seeds[1:]:   # the first seed's result is the method's row below
                        p_s, mem_s = choice_probs(memo(m, img, standard, item.image_id, s)[None], space)
                        row[f"{m}_seed{s}_correct"] = int(mem_s[0, int(p_s[0].argmax())]) in item.labels
                    probs, members = choice_probs(memo(m, img, standard, item.image_id, seeds[0])[None], space)
                    prob = probs[0]
                else:
                    if zoom_probs is None:
                        crops = zoom_crops(img, zooms, cfg.grid)
                        logits = np.concatenate([classifier.logits(crops[i:i + cfg.batch_size])
                                                 for i in range(0, len(crops), cfg.batch_size)])
                        zoom_probs = choice_probs(logits, space), time.perf_counter() - t0
                    else:
                        shared = zoom_probs[1]
                    probs, members = zoom_probs[0]
                    prob = ensemble(probs, m.removeprefix("zoom-"))
                k = int(prob.argmax())
                # an ObjectNet class is reported as its best member in the view surest of it
                top1 = int(members[probs[:, k].argmax(), k])
                seconds[m] += time.perf_counter() - t0 + shared
                row[f"{m}_top1"] = top1
                row[f"{m}_prob"] = float(prob[k])
                row[f"{m}_correct"] = top1 in item.labels
            images.append(row)
    finally:
        bar.close()
    if skipped:
        log(f"skipped {len(skipped)} of {len(source)} images (unreadable or without a label)")
    n = len(images)
    if n == 0:
        raise DataError(f"{setup.data}: no usable images")
    results = [method_result(m, images, seeds if m in GRADIENT_METHODS else None,
                             cfg.views if m in GRADIENT_METHODS else len(zooms), cfg.ci_resamples)
               for m in methods]
    for r in results:
        runs = len(r.get("seeds") or [0])
        r.update(seconds_per_image=round(seconds[r["method"]] / n / runs, 4), protocol=setup.protocol,
                 weights_tag=(classifier.weights or {}).get("tag"))
    return TTAReport(results, images, skipped)


def method_result(method: str, images: list[dict], seeds: tuple[int, ...] | None, views: int,
                  ci_resamples: int = CI_RESAMPLES) -> dict:
    """A method's row: top-1 with its 95 % interval, the views it pooled, and its exact McNemar
    test against the baseline on the same images (stats.mcnemar). With several seeds: top-1's
    mean and standard deviation over them; the interval and the paired test are of the per-image
    share of seeds that get it right, and of the first seed's predictions."""
    n = len(images)
    baseline = np.array([r["baseline_correct"] for r in images], bool)
    first = np.array([r[f"{method}_correct"] for r in images], bool)
    out = {"method": method, "n": n, "baseline_top1": float(baseline.mean()), "views": int(views)}
    per_seed = [first] + [np.array([r[f"{method}_seed{s}_correct"] for r in images], bool) for s in (seeds or ())[1:]]
    share = np.mean(per_seed, axis=0)
    top1, std = mean_std([float(c.mean()) for c in per_seed])
    ci = bootstrap_ci(share, ci_resamples)[0] if ci_resamples else None
    out.update(top1=top1, top1_ci=None if ci is None else [float(ci[0]), float(ci[1])],
               vs_baseline=mcnemar(baseline, first))
    if seeds is not None and len(seeds) > 1:
        out.update(seeds=list(seeds), top1_std=std, top1_per_seed=[float(c.mean()) for c in per_seed],
                   vs_baseline_per_seed=[mcnemar(baseline, c) for c in per_seed])
    return out


def standard_cropper(cfg: TTAConfig) -> Callable[[object], np.ndarray]:
    """decoded PIL image -> uint8 (h, w, 3) crop for the baseline and MEMO's prediction: the
    grid's standard transform natively, MEMO's test crop under the study's protocol."""
    if protocol.check(cfg.setup.protocol) == "study":
        transform = protocol.tta_transform(cfg.imagenet_c)
        return lambda img: np.array(transform(img), dtype=np.uint8)  # a writable copy, as torch wants
    return lambda img: zoom_crop(img, cfg.grid.standard, cfg.grid)


def choice_probs(logits: np.ndarray, space: ClassSpace) -> tuple[np.ndarray, np.ndarray]:
    """(views, classes) softmax over the classes a prediction chooses from (ObjectNet: its groups,
    as sweep and bench score them) and (views, classes) the ImageNet index behind each."""
    z, members = choice_logits(logits, space.members)
    return masked_softmax(z, None, np.float64), members


def format_table(results: list[dict]) -> str:
    """One line per method: views pooled, top-1 (± std over seeds) with its 95 % interval, the
    baseline, and the paired test against it (+gained/-lost images, exact McNemar p)."""
    lines = [f"{'method':<12} {'views':>5} {'n':>6} {'top1':>15} {'95 % interval':>16} {'baseline':>9} "
             f"{'vs baseline':>22} {'s/image':>9}"]
    for r in results:
        top1 = f"{r['top1']:.2%}" + (f" ± {r['top1_std']:.2%}" if "top1_std" in r else "")
        lines.append(f"{r['method']:<12} {r['views']:>5} {r['n']:>6} {top1:>15} {interval(r.get('top1_ci')):>16} "
                     f"{r['baseline_top1']:>9.2%} {paired(r.get('vs_baseline')):>22} {r['seconds_per_image']:>9.3f}")
    if any("seeds" in r for r in results):
        seeds = next(r["seeds"] for r in results if "seeds" in r)
        lines.append(f"± : standard deviation over seeds {', '.join(map(str, seeds))}; the paired test is of seed "
                     f"{seeds[0]}")
    return "\n".join(lines)
