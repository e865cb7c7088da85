"""Single-crop benchmark: each model with its own eval preprocessing (or the study's, with
--protocol study: see zoomhard.protocol), on any data source.

    source -> (worker threads) decode, Resize(input_size / crop_pct, the model's interpolation),
              CenterCrop(input_size) -> batches -> classifier -> scores per image

The eval transform is torchvision's on the decoded PIL image, as timm's and torchvision's
pretrained configs define it. Correct = the top-1 (within the class space, see protocols) is in
the image's label list: the ImageNet-Hard protocol for multi-label data, plain top-1 for one
label. Accuracies are fractions, per origin too. On ImageNet-Hard data the study's figure is set
beside, for the study's exact networks only (zoomhard.paper).
"""

from __future__ import annotations

import csv
import os
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from . import labels as L
from . import checks
from .config import SETUP_FIELDS, Setup, check_batching, check_setup, open_classifier, open_data
from .data import Item, Source
from .errors import UsageError
from .models import Classifier, ModelError, Preprocess
from .models.weights import weights_note
from .paper import hard_paper
from .pipeline import Batcher, ImageCrops, Prepared, classify, prefetch, progress_bar
from .protocols import ClassSpace, class_space, score
from .spec import onnx_path
from .stats import CI_RESAMPLES, bootstrap_ci, interval

RESULTS_COLUMNS = ("model", "data", "subset", "n", "top1", "top1_err", "top5", "top5_err", "param_count",
                   "img_size", "crop_pct", "interpolation", "backend", "images_per_s")


@dataclass
class BenchConfig:
    setups: list[Setup]                    # one per model (spec, weights), alike in everything else
    batch_size: int = 64
    workers: int = min(4, os.cpu_count() or 1)
    predictions: str | None = None         # CSV: one row per model x image
    results: str | None = None             # CSV, appended: one row per model (timm's validate.py columns)
    progress: bool = True
    extra: dict = field(default_factory=dict)
    ci_resamples: int = CI_RESAMPLES       # bootstrap resamples of top1_ci (0: none)

    def __post_init__(self):
        check_batching(self)
        for setup in self.setups:
            check_setup(setup, needs_data=True)
        if any(_shared(s) != _shared(self.setups[0]) for s in self.setups):
            raise UsageError("bench runs every model on the same data and options: its setups may differ "
                             "only in model and weights")

    @property
    def models(self) -> list[tuple[str, str | None]]:
        return [(s.model, s.weights) for s in self.setups]


def _shared(setup: Setup) -> dict:
    return {name: getattr(setup, name) for name in SETUP_FIELDS if name not in ("model", "weights")}


def is_imagenet_hard(data: str) -> bool:
    """Data in the ImageNet-Hard layout (parquet:, hf:) or named after it."""
    return data.startswith(("parquet:", "hf:")) or "imagenet-hard" in data.lower() or "imagenet_hard" in data.lower()


def eval_transform(pp: Preprocess) -> Callable:
    """Resize the shorter side to floor(input_size / crop_pct) (timm's rule), centre crop."""
    from torchvision import transforms as T

    resize = pp.eval_resize
    try:
        interpolation = T.InterpolationMode(pp.interpolation)
    except ValueError:
        raise ModelError(f"unknown interpolation {pp.interpolation!r} in the model's preprocessing") from None
    return T.Compose([T.Resize(resize, interpolation=interpolation), T.CenterCrop(pp.input_size)])


def eval_crops(source: Iterable[Item], transform: Callable, workers: int) -> Iterator[Prepared]:
    """Each image's uint8 eval crop (or why it is unusable), in order, decoded in `workers`
    threads a few images ahead of the model (one small crop each, so more than the sweep)."""
    make = lambda img: np.asarray(transform(img), dtype=np.uint8)  # noqa: E731
    return prefetch(source, make, workers, ahead=4 * max(1, workers))


def _param_count(classifier: Classifier) -> float | None:
    module = getattr(classifier, "module", None)
    return round(sum(p.numel() for p in module.parameters()) / 1e6, 3) if module is not None else None


def run_model(classifier: Classifier, source: Source, space: ClassSpace, cfg: BenchConfig) -> tuple[dict, list[dict]]:
    """Evaluate one classifier; returns (summary, one row per scored image)."""
    transform = eval_transform(classifier.preprocess)
    size = classifier.preprocess.input_size
    batcher = Batcher(classifier, cfg.batch_size, size)
    rows: list[dict] = []
    unreadable: dict[str, str] = {}
    skipped = 0

    def scored(images: list[ImageCrops]) -> None:
        for im in images:
            s = score(im.logits, im.item.labels, space.allowed, space.groups)
            top5 = [int(c) for c in s["top5"][0]]
            rows.append({"image_id": im.item.image_id, "origin": im.item.origin, "labels": im.item.labels,
                         "top1": int(s["top1"][0]), "top5": top5, "correct": bool(s["correct"][0]),
                         "correct5": bool(set(top5) & set(im.item.labels))})

    def crops_of(p: Prepared) -> ImageCrops:
        return ImageCrops(p.item, (size, size), p.data[None], np.empty((1, classifier.num_classes), np.float32), 1)

    started = time.perf_counter()
    prepared = eval_crops(source, transform, cfg.workers)
    with progress_bar(len(source), cfg.progress, classifier.spec) as bar:
        try:
            for p, completed in classify(prepared, batcher, crops_of):
                scored(completed)
                if p is None:
                    break
                bar.update(1)
                if p.unlabelled:
                    skipped += 1
                elif not p.ok:
                    unreadable[p.item.image_id] = p.reason
        finally:
            batcher.close()
    seconds = time.perf_counter() - started
    return summarize(classifier, source, space, rows, unreadable, skipped, seconds, cfg.ci_resamples), rows


def summarize(classifier: Classifier, source: Source, space: ClassSpace, rows: list[dict],
              unreadable: dict[str, str], skipped: int, seconds: float, ci_resamples: int = CI_RESAMPLES) -> dict:
    n = len(rows)
    ci = bootstrap_ci(np.array([r["correct"] for r in rows], dtype=bool), ci_resamples)[0] if n and ci_resamples else None
    by_origin: dict[str, list[bool]] = defaultdict(list)
    for r in rows:
        by_origin[r["origin"] or "(none)"].append(r["correct"])
    summary = {
        "model": classifier.spec, "data": source.spec, "subset": space.name, "classes": space.classes, "n": n,
        "top1": sum(r["correct"] for r in rows) / n if n else 0.0,
        "top1_ci": None if ci is None else [float(ci[0]), float(ci[1])],   # 95 %, bootstrap over images
        "top5": sum(r["correct5"] for r in rows) / n if n else 0.0,
        "per_origin": {o: {"n": len(c), "top1": sum(c) / len(c)} for o, c in sorted(by_origin.items())},
        "unreadable": len(unreadable), "skipped_unlabelled": skipped,
        "backend": classifier.backend, "preprocess": classifier.preprocess.to_dict(),
        "eval_crop": classifier.preprocess.describe_eval(),
        "precision": classifier.precision, "activation": classifier.activation,
        "param_count": _param_count(classifier),
        "seconds": round(seconds, 3), "images_per_s": round(n / seconds, 2) if seconds > 0 else None,
    }
    return summary


def write_predictions(path: str, results: list[tuple[dict, list[dict]]]) -> None:
    Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
    with open(Path(path).expanduser(), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["model", "image_id", "origin", "labels", "top1", "top1_name", "top5", "correct"])
        for summary, rows in results:
            for r in rows:
                w.writerow([summary["model"], r["image_id"], r["origin"], " ".join(map(str, r["labels"])), r["top1"],
                            L.short_name(r["top1"]), " ".join(map(str, r["top5"])), int(r["correct"])])


def append_results(path: str, summaries: list[dict]) -> None:
    """One row per model, appended; accuracies in percent like timm's validate.py results file."""
    path = Path(path).expanduser()
    new = not path.exists() or path.stat().st_size == 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=RESULTS_COLUMNS)
        if new:
            w.writeheader()
        for s in summaries:
            pp = s["preprocess"]
            w.writerow({"model": s["model"], "data": s["data"], "subset": s["subset"], "n": s["n"],
                        "top1": round(100 * s["top1"], 3), "top1_err": round(100 * (1 - s["top1"]), 3),
                        "top5": round(100 * s["top5"], 3), "top5_err": round(100 * (1 - s["top5"]), 3),
                        "param_count": s["param_count"] if s["param_count"] is not None else "",
                        "img_size": pp["input_size"], "crop_pct": round(pp["crop_pct"], 4),
                        "interpolation": pp["interpolation"], "backend": s["backend"],
                        "images_per_s": s["images_per_s"]})


def run_bench(cfg: BenchConfig, log: Callable[[str], None] = print) -> list[dict]:
    """Benchmark every model of `cfg` on its data; returns one summary per model."""
    if not cfg.setups:
        raise UsageError("give at least one --model")
    check_batching(cfg)
    first = cfg.setups[0]
    checks.device(first.device, here=True)
    source = open_data(first)
    space = class_space(first.subset, source)
    results = []
    for setup in cfg.setups:
        spec, weights = setup.model, setup.weights
        classifier = open_classifier(setup, "bench", crop=None)
        if classifier.num_classes != 1000:
            raise ModelError(f"{spec} has {classifier.num_classes} outputs; bench needs ImageNet-1k logits")
        record = classifier.weights or {}
        weights_note(record, log)
        summary, rows = run_model(classifier, source, space, cfg)
        summary.update(protocol=setup.protocol, weights_tag=record.get("tag"), weights=record,
                       warnings=[record["warning"]] if record.get("warning") else [])
        if is_imagenet_hard(source.spec):
            summary["paper"] = hard_paper(spec, record.get("tag"), weights, source.describe(), setup.protocol)
        if summary["unreadable"]:
            log(f"{spec}: {summary['unreadable']} unreadable images left out")
        results.append((summary, rows))
    if cfg.predictions:
        write_predictions(cfg.predictions, results)
    summaries = [s for s, _ in results]
    if cfg.results:
        append_results(cfg.results, summaries)
    return summaries


def read_model_specs(values: Iterable[str]) -> list[tuple[str, str | None]]:
    """--model values: specs (several may be joined by commas), or files with one
    'SPEC [WEIGHTS]' per line ('#' comments)."""
    out = []
    for v in values:
        p = Path(v).expanduser()
        if ":" not in v and p.is_file():
            for line in p.read_text().splitlines():
                parts = line.split("#")[0].split()
                if parts:
                    out.append((parts[0], parts[1] if len(parts) > 1 else None))
        elif onnx_path(v) and Path(onnx_path(v)).expanduser().is_file():  # a path may hold commas
            out.append((v, None))
        else:
            out += [(spec.strip(), None) for spec in v.split(",") if spec.strip()]
    return out


def format_table(summaries: list[dict]) -> str:
    head = (f"{'model':<36} {'data':<24} {'subset':<15} {'n':>7} {'top-1':>8} {'95 % interval':>16} {'top-5':>8} "
            f"{'img/s':>8}")
    lines = [head, "-" * len(head)]
    for s in summaries:
        lines.append(f"{s['model'][:36]:<36} {s['data'][-24:]:<24} {s['subset']:<15} {s['n']:>7} "
                     f"{s['top1']:>8.2%} {interval(s.get('top1_ci')):>16} {s['top5']:>8.2%} "
                     f"{s['images_per_s'] or 0:>8.1f}")
        if len(s["per_origin"]) > 1:
            for origin, o in s["per_origin"].items():
                lines.append(f"    {origin[:32]:<32} {'':<40} {o['n']:>7} {o['top1']:>8.2%}")   # under n, top-1
    lines += ["", "Each model's single crop:" if len(summaries) > 1 else "The single crop:"]
    for s in summaries:
        whose = ("the study's Resize(256) + CenterCrop(224) protocol" if s.get("protocol") == "study"
                 else "the model's own eval config")
        lines.append(f"    {s['model'][:36]:<36} {s['eval_crop']}: {whose}")
    lines.append("    (a sweep's standard 1-crop is s256-r1c1, shorter side 256, centre 224-px crop, for every model)")
    papers = [(s["model"], s["paper"]) for s in summaries if "paper" in s]
    if papers:
        lines += ["", "The study's ImageNet-Hard top-1 (NeurIPS 2023) for the same network:"]
        for model, p in papers:
            figure = f"{p['model']} {p['top1']:.2%}" if p["top1"] is not None else (p["model"] or "-")
            lines.append(f"    {model[:36]:<36} {figure}" + (f"  ({p['note']})" if p["note"] else ""))
    return "\n".join(lines)
