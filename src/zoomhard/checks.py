"""The checks every entry point's config runs on its options: the command line, zoomhard.sweep()
and a study file build the same config objects (sweep.SweepConfig, bench.BenchConfig,
tta.TTAConfig, grid.ZoomGrid), whose __post_init__ calls these, so a value is refused with the
same one line (UsageError; exit 2 on the command line) wherever it comes from.

The bounds are those of what holds the values: the run folder's Parquet columns (scale int16,
row/col int8) and the machine's memory, which a batch of crops and the decode workers' resized
images must fit in (see `check_memory`).
"""

from __future__ import annotations

import math
import numbers
import os
import re
from pathlib import Path

from .errors import UsageError

MAX_BATCH_SIZE = 65536       # crops per model call
MAX_WORKERS = 256            # decode threads
MAX_NAME = 255               # bytes in one path component (NAME_MAX of Linux and macOS file systems)
DEVICES = ("auto", "cpu", "cuda", "cuda:N", "mps")
_DEVICE = re.compile(r"^(auto|cpu|cuda|cuda:\d+|mps)$")


def whole(name: str, value, lo: int, hi: int | None = None) -> int:
    """`value` as an int in [lo, hi]; a bool, a fraction, a string or infinity is refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise UsageError(f"{name} {value!r}: give a whole number"
                         + (f" from {lo} to {hi}" if hi is not None else f" of at least {lo}"))
    value = int(value)
    if value < lo or (hi is not None and value > hi):
        raise UsageError(f"{name} {value}: give a whole number"
                         + (f" from {lo} to {hi}" if hi is not None else f" of at least {lo}"))
    return value


def seconds(name: str, value, lo: float = 0.0) -> float:
    """A finite number of seconds, at least `lo`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value < lo:
        raise UsageError(f"{name} {value!r}: give a finite number of seconds, at least {lo:g}")
    return float(value)


def choice(name: str, value, choices) -> str:
    if value not in choices:
        raise UsageError(f"unknown {name} {value!r}; choose one of: {', '.join(choices)}")
    return value


def shard(value) -> tuple[int, int] | None:
    """(k, n) with 0 <= k < n: this process sweeps images k, k + n, k + 2n, ..."""
    if value is None:
        return None
    try:
        k, n = value
    except (TypeError, ValueError):
        raise UsageError(f"shard {value!r}: give (K, N) with 0 <= K < N, e.g. (0, 4)") from None
    n = whole("shard N", n, 1)
    k = whole("shard K", k, 0)
    if k >= n:
        raise UsageError(f"shard ({k}, {n}): give (K, N) with 0 <= K < N, e.g. (0, 4)")
    return k, n


def device(value: str, here: bool = False) -> str:
    """auto, cpu, cuda, cuda:N or mps; with `here`, also one this machine has (checked when a
    command runs the model here, not when a study is only listed)."""
    if not isinstance(value, str) or not _DEVICE.match(value):
        raise UsageError(f"unknown device {value!r}; choose one of: {', '.join(DEVICES)}")
    if not here or value in ("auto", "cpu"):
        return value
    import torch

    cuda = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if value.startswith("cuda"):
        index = int(value.partition(":")[2] or 0)
        if not cuda:
            raise UsageError(f"--device {value}: no CUDA device here (torch {torch.__version__}"
                             f"{'' if torch.version.cuda else ', built without CUDA'}); use --device cpu or auto")
        if index >= cuda:
            raise UsageError(f"--device {value}: this machine has {cuda} CUDA device(s): "
                             f"{', '.join(f'cuda:{i}' for i in range(cuda))}")
    elif value == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise UsageError("--device mps: Apple's Metal (MPS) is not available here; use --device cpu or auto")
    return value


def memory_bytes() -> int:
    """The memory this process may use: the machine's, or its container's limit when lower."""
    total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit.isdigit():
            total = min(total, int(limit))
    except OSError:
        pass
    return total


def _gb(n: float) -> str:
    return f"{n / 1e9:.1f} GB"


def check_memory(batch_size: int, workers: int, crop: int, max_scale: int, cells: int = 1) -> None:
    """Refuse options whose working set cannot fit: a batch of float32 crops (twice: the batch
    and the model's copy of its input), and per decode worker one image resized to the largest
    scale (a 4:3 photo, uint8) with the crops of one scale cut from it. The limit is half of
    the machine's memory, leaving the rest to the model and the system."""
    batch = 2 * batch_size * 3 * crop * crop * 4
    per_worker = 4 * max_scale * max_scale + cells * 3 * crop * crop
    need, limit = batch + workers * per_worker, memory_bytes() // 2
    if need > limit:
        raise UsageError(f"batch size {batch_size} x crop {crop} ({_gb(batch)} of crops) and {workers} decode "
                         f"worker(s) x scale {max_scale} ({_gb(workers * per_worker)}) need {_gb(need)}, over half "
                         f"of this machine's memory ({_gb(limit)}); lower the batch size, crop, workers or "
                         "largest scale")


def out_folder(path, what: str = "--out") -> None:
    """A folder that can be made: no component longer than the file system allows, and no
    existing file where a folder of the path would be."""
    if path is None or os.fspath(path) == "":
        return
    p = Path(os.fspath(path))
    for part in p.parts:
        if len(os.fsencode(part)) > MAX_NAME:
            raise UsageError(f"{what} {str(p)[:60]}...: the name {part[:24]}... is {len(os.fsencode(part))} bytes "
                             f"long, over the {MAX_NAME} a file system allows; choose a shorter name")
    for parent in (p, *p.parents):
        if parent.exists() or parent.is_symlink():
            if not parent.is_dir():
                raise UsageError(f"{what} {p}: {parent} is a file, not a folder; choose another {what}")
            return
