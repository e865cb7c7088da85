"""The Ray engine against the local engine on the same images, in one run.

    python benchmarks/ray_sweep.py [--model lite0] [--copies 3] [--scales study] [--rounds 2]

The bundled samples, copied `--copies` times into a labelled folder, are swept by each engine
into a fresh run folder, alternating for `--rounds` rounds (machines are noisy). A local Ray
cluster is started once beforehand and joined, so its start-up is reported on its own. Prints,
per engine, crops/s of the sweep session (from its run.json: after the model is loaded, until
the last part is written; for Ray this includes starting the classifier actors) and the wall
time of the whole call, and the median ratio ray / local of crops/s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time

from zoomhard.config import Setup
from zoomhard.data import open_source
from zoomhard.grid import ZoomGrid
from zoomhard.sweep import SweepConfig, run_sweep


def make_folder(root: str, copies: int) -> str:
    folder = os.path.join(root, "imgs")
    os.makedirs(folder)
    with open(os.path.join(folder, "labels.csv"), "w") as f:
        f.write("image,labels\n")
        for it in open_source("samples"):
            for k in range(copies):
                name = f"{k}-{it.image_id}"
                os.symlink(it.read(), os.path.join(folder, name))
                f.write(f"{name},{';'.join(map(str, it.labels))}\n")
    return folder


def one(engine: str, model: str, folder: str, grid: ZoomGrid, out: str) -> tuple[float, float, int]:
    cfg = SweepConfig(Setup(model, folder), out=out, grid=grid, progress=False, engine=engine)
    start = time.perf_counter()
    run_sweep(cfg, log=lambda m: None)
    wall = time.perf_counter() - start
    session = json.load(open(os.path.join(out, "run.json")))["sessions"][-1]
    return session["crops_per_second"], wall, session["crops"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="lite0")
    ap.add_argument("--copies", type=int, default=3)
    ap.add_argument("--scales", default="study")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()

    import ray

    t = time.perf_counter()
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    print(f"local Ray cluster started in {time.perf_counter() - t:.1f} s ({os.cpu_count()} CPUs)")
    grid = ZoomGrid(ZoomGrid.parse_scales(args.scales))
    rates: dict[str, list[float]] = {"local": [], "ray": []}
    with tempfile.TemporaryDirectory() as d:
        folder = make_folder(d, args.copies)
        for r in range(args.rounds):
            for engine in ("local", "ray"):
                rate, wall, crops = one(engine, args.model, folder, grid, os.path.join(d, f"{engine}-{r}"))
                rates[engine].append(rate)
                print(f"round {r}  {engine:<5}  {crops} crops  {rate:7.1f} crops/s  {wall:6.1f} s wall")
    ray.shutdown()
    ratios = [a / b for a, b in zip(rates["ray"], rates["local"])]
    print(f"ray / local crops/s: median {statistics.median(ratios):.2f} "
          f"(local {statistics.median(rates['local']):.1f}, ray {statistics.median(rates['ray']):.1f} crops/s)")


if __name__ == "__main__":
    main()
