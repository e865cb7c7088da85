"""Is this checkout slower than an earlier revision? The sweep and analyze of both, side by side.

    python benchmarks/revisions.py BASE [--images 20000] [--rounds 3] [--scales 64:1024:64]

BASE is any git revision (a commit, a tag, main~3). It is checked out into a temporary worktree,
and each round runs, for BASE and then for this checkout (each in its own child process with
its own source on PYTHONPATH, the same interpreter and packages):

  sweep     `zoomhard sweep -m lite0 -d samples` over --scales (3 x 3 anchors), into a fresh folder
  analyze   `zoomhard analyze` of one synthetic run of --images images x 324 transforms
            (benchmarks/analyze_speed.py's generator; not timed)

and prints the median seconds of each and their ratio (this checkout / BASE; 1.00: as fast,
under 1: faster). The revisions alternate within a round so that other work on a shared machine
moves both alike. One untimed sweep per revision first makes Lite0's ONNX export and each
tree's bytecode.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from analyze_speed import write_synthetic_run

ROOT = Path(__file__).resolve().parents[1]


def timed(src: Path, args: list[str], cache: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(src), "HF_HUB_OFFLINE": "1", "ZOOMHARD_CACHE": str(cache)}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "zoomhard.cli", *args], check=True, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("base", help="the git revision to compare with")
    ap.add_argument("--images", type=int, default=20_000, help="images of the synthetic run analyze reads")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--scales", default="64:1024:64", help="the sweep's scales (zoomhard sweep --scales)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="zoomhard-revisions-"))
    base_tree = work / "base"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base_tree), args.base],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sources = {args.base: base_tree / "src", "this checkout": ROOT / "src"}
    try:
        cache = work / "cache"
        run = work / "synthetic-run"
        write_synthetic_run(run, args.images)
        for i, src in enumerate(sources.values()):  # untimed: the ONNX export, each tree's bytecode
            timed(src, ["sweep", "-m", "lite0", "-d", "samples", "--scales", "224", "-o", str(work / f"warm-{i}")],
                  cache)
        times = {(name, what): [] for name in sources for what in ("sweep", "analyze")}
        for r in range(args.rounds):
            for i, (name, src) in enumerate(sources.items()):
                out = work / f"sweep-{r}-{i}"
                times[name, "sweep"].append(timed(src, ["sweep", "-m", "lite0", "-d", "samples", "--scales",
                                                        args.scales, "-o", str(out), "--no-progress"], cache))
                shutil.rmtree(out)
                times[name, "analyze"].append(timed(src, ["analyze", str(run)], cache))
        base, this = sources
        print(f"{'':10} {base[:18]:>18} {'this checkout':>14} {'ratio':>6}   (median of {args.rounds} rounds, s)")
        for what in ("sweep", "analyze"):
            b, t = (statistics.median(times[name, what]) for name in (base, this))
            print(f"{what:10} {b:18.2f} {t:14.2f} {t / b:6.2f}")
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base_tree)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
