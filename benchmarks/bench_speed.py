"""How close `zoomhard bench` gets to the model's own speed.

    python benchmarks/bench_speed.py [--model lite0] [--repeat 16] [--batch-size 64]

Runs the bench pipeline (decode in worker threads, eval resize + centre crop, batches, scoring)
over the bundled samples repeated --repeat times, then the same classifier alone on ready uint8
crops of the same batch size, then the decoding and eval crops alone in the same worker threads,
and prints images/s of each with the ratios. bench / model alone is 1.0 when the model never
waits for data. On a CPU the model and the decoding share the cores, so bench cannot pass
1 / (1/model + 1/decoding): the last ratio says how close to that it comes.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from zoomhard.bench import BenchConfig, eval_crops, eval_transform, run_model
from zoomhard.config import Setup
from zoomhard.data import SamplesSource
from zoomhard.models import load_classifier
from zoomhard.protocols import class_space


class Repeated:
    """The samples, `k` times over, with distinct ids."""

    def __init__(self, k: int):
        self.inner, self.k, self.spec, self.auto_subset = SamplesSource(), k, "samples", None

    def __len__(self):
        return len(self.inner) * self.k

    def __iter__(self):
        from dataclasses import replace

        for r in range(self.k):
            for it in self.inner:
                yield replace(it, image_id=f"{r}/{it.image_id}")

    def describe(self):
        return {"spec": self.spec, "images": len(self)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="lite0")
    ap.add_argument("--repeat", type=int, default=16)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--workers", type=int, default=None)
    args = ap.parse_args()

    classifier = load_classifier(args.model, crop=None)
    cfg = BenchConfig([Setup(args.model, "samples")], batch_size=args.batch_size, progress=False)
    if args.workers:
        cfg.workers = args.workers
    source = Repeated(args.repeat)
    run_model(classifier, Repeated(1), class_space("none"), cfg)  # warm-up: threads, first session runs
    summary, _ = run_model(classifier, source, class_space("none"), cfg)
    bench_ips = summary["n"] / summary["seconds"]

    size = classifier.preprocess.input_size
    crops = np.random.default_rng(0).integers(0, 256, (args.batch_size, size, size, 3), dtype=np.uint8)
    classifier.logits(crops)
    n, started = 0, time.perf_counter()
    while n < summary["n"]:
        classifier.logits(crops)
        n += args.batch_size
    model_ips = n / (time.perf_counter() - started)

    started = time.perf_counter()
    n = sum(1 for _ in eval_crops(source, eval_transform(classifier.preprocess), cfg.workers))
    prep_ips = n / (time.perf_counter() - started)
    shared = 1 / (1 / model_ips + 1 / prep_ips)

    print(f"model {args.model} ({classifier.backend}), batch {args.batch_size}, workers {cfg.workers}, "
          f"{summary['n']} images")
    print(f"{'bench (decode + eval crop + model + score)':<46} {bench_ips:8.1f} images/s")
    print(f"{'model alone on ready uint8 crops':<46} {model_ips:8.1f} images/s")
    print(f"{'decode + eval crop alone (worker threads)':<46} {prep_ips:8.1f} images/s")
    print(f"{'ratio bench / model alone':<46} {bench_ips / model_ips:8.2f}")
    print(f"{'ratio bench / both sharing the CPU':<46} {bench_ips / shared:8.2f}   (limit {shared:.1f} images/s)")


if __name__ == "__main__":
    main()
