"""How fast is `zoomhard analyze` on a study-sized run? 50,000 images x 324 transforms (16.2 M
prediction rows), synthetic but shaped like a real sweep: Parquet parts of whole images, every
column of the schema, a centre bias and a sweet spot around scale 256.

    python benchmarks/analyze_speed.py [--images 50000] [--dir DIR] [--keep]

Generating the run is not timed. `analyze` (and then `report`) run in child processes, so the
peak memory printed is theirs alone (resource.getrusage(RUSAGE_CHILDREN), Linux: KiB).
Target: analyze in under a minute and a few GB.

analyze also runs once without the chance control and the bootstrap intervals (the analysis as
it was before them: the matrix alone, no top-1 classes or labels read), and the ratio of the
two times is printed (each the faster of two runs). Target: under 1.5.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from zoomhard.grid import ZoomGrid  # noqa: E402
from zoomhard.runs.store import IMAGES, PREDICTIONS, RunStore  # noqa: E402

IMAGES_PER_PART = 1000


def write_synthetic_run(path: Path, n_images: int, seed: int = 0) -> None:
    from PIL import Image

    grid = ZoomGrid()
    zooms = list(grid)
    n_t = len(zooms)
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    photo = path.parent / "photo.png"
    Image.fromarray(rng.integers(0, 255, (300, 400, 3), dtype=np.uint8)).save(photo)
    store = RunStore(path)
    store.open({"model": "synthetic", "weights": None, "grid": grid.to_dict(),
                "data": {"spec": "synthetic", "kind": "synthetic"}, "subset": {"name": "none", "classes": 1000}})
    scale = np.array([z.scale for z in zooms])
    off_centre = np.array([abs(z.row - 1) + abs(z.col - 1) for z in zooms])
    # transform effect: best near scale 256 at the centre, falling off with zoom and anchor
    t_effect = -1.2 * np.abs(np.log2(scale / 256.0)) - 0.6 * off_centre
    for start in range(0, n_images, IMAGES_PER_PART):
        n = min(IMAGES_PER_PART, n_images - start)
        ids = [f"n{(start + i) % 1000:08d}/ILSVRC2012_val_{start + i:08d}.JPEG" for i in range(n)]
        labels = rng.integers(0, 1000, n)
        ease = rng.normal(1.0, 2.0, n)
        p = 1 / (1 + np.exp(-(ease[:, None] + t_effect[None, :] + rng.normal(0, 1, (n, n_t)))))
        correct = rng.random((n, n_t)) < p
        top1 = np.where(correct, labels[:, None], (labels[:, None] + rng.integers(1, 1000, (n, n_t))) % 1000)
        top5 = np.stack([top1] + [(top1 + k) % 1000 for k in range(1, 5)], axis=-1).astype(np.int16)
        prob = np.sort(rng.dirichlet(np.ones(6), (n, n_t))[..., :5], axis=-1)[..., ::-1].astype(np.float32)
        label_prob = np.where(correct, prob[..., 0], prob[..., 4] / 2).astype(np.float32)
        rows = n * n_t
        predictions = pa.table({
            "image_id": pa.array(np.repeat(ids, n_t)),
            "scale": np.tile(scale.astype(np.int16), n),
            "row": np.tile(np.array([z.row for z in zooms], np.int8), n),
            "col": np.tile(np.array([z.col for z in zooms], np.int8), n),
            "top1": top1.astype(np.int16).ravel(),
            "correct": correct.ravel(),
            "top5": pa.FixedSizeListArray.from_arrays(top5.reshape(rows * 5), 5).cast(pa.list_(pa.int16())),
            "top5_prob": pa.FixedSizeListArray.from_arrays(prob.reshape(rows * 5), 5).cast(pa.list_(pa.float32())),
            "label_prob": label_prob.ravel(),
        }, schema=PREDICTIONS)
        images = pa.table({"image_id": ids, "labels": [[int(x)] for x in labels], "origin": ["synthetic"] * n,
                           "width": [400] * n, "height": [300] * n, "locator": [f"file:{photo}"] * n},
                          schema=IMAGES)
        store.write_part(predictions, images)


# `zoomhard analyze RUN` without the chance control and the intervals: compute() as it was
# before them, from the correctness matrix alone.
WITHOUT_STATISTICS = """
import sys
from zoomhard import analysis as A
from zoomhard.analysis import TOP_K, Analysis
from zoomhard.report import analyze as R
from zoomhard.report.load import is_partial

def compute(run, ci_resamples=0):
    return Analysis.from_dict({"run": str(run.path), "fingerprint": run.fingerprint, "model": run.config.get("model"),
                               "data": run.config.get("data"), "subset": run.config.get("subset"),
                               "grid": run.grid.to_dict(), **A.analyze(run.c, run.grid, TOP_K, partial=is_partial(run),
                                                                       ci_resamples=0)})

R.compute = compute
R.analyze_run(sys.argv[1])
"""


def timed(cmd: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, check=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=50_000)
    ap.add_argument("--dir", help="Where to write the synthetic run [default: a temporary folder]")
    ap.add_argument("--keep", action="store_true", help="Keep the synthetic run")
    ap.add_argument("--no-report", action="store_true", help="Time analyze only")
    args = ap.parse_args()
    base = Path(args.dir or tempfile.mkdtemp(prefix="zoomhard-bench-"))
    run = base / "synthetic-run"
    try:
        t0 = time.perf_counter()
        write_synthetic_run(run, args.images)
        size = sum(p.stat().st_size for p in (run / "predictions").glob("*.parquet"))
        print(f"synthetic run: {args.images} images x 324 transforms = {args.images * 324:,} rows, "
              f"{size / 2**20:.0f} MiB of Parquet, written in {time.perf_counter() - t0:.1f} s (not timed)")
        zh = [sys.executable, "-m", "zoomhard.cli"]
        # alternated, the faster of two each: other work on a shared machine moves single timings
        without_s, analyze_s = float("inf"), float("inf")
        for _ in range(2):
            without_s = min(without_s, timed([sys.executable, "-c", WITHOUT_STATISTICS, str(run)]))
            analyze_s = min(analyze_s, timed(zh + ["analyze", str(run)]))
        peak_analyze = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
        print(f"analyze: {analyze_s:.1f} s, peak memory {peak_analyze:.2f} GiB "
              f"(target: under 60 s and a few GB: {analyze_s / 60:.2f} of the time budget)")
        print(f"analyze without the chance control and intervals: {without_s:.1f} s; with them: {analyze_s:.1f} s, "
              f"ratio {analyze_s / without_s:.2f} (target: under 1.5)")
        if not args.no_report:
            report_s = timed(zh + ["report", str(run), "--out", str(base / "report.html")])
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
            print(f"report (reusing analysis.json; explorer of the first 1000 images): {report_s:.1f} s, "
                  f"peak memory of any child so far {peak:.2f} GiB, "
                  f"{(base / 'report.html').stat().st_size / 2**20:.1f} MiB of HTML")
    finally:
        if not args.keep and not args.dir:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
