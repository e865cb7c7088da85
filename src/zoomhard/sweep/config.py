"""A sweep's whole config, which every sweep engine takes: the `Setup` it holds (the model, data
and protocol, as bench and tta take them), the grid, the run folder and how to run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from .. import checks
from ..config import Setup, check_batching, check_setup
from ..errors import UsageError
from ..grid import ZoomGrid
from .engines import ENGINES


@dataclass
class SweepConfig:
    setup: Setup                      # the model, data and protocol, as bench and tta take them
    out: str
    grid: ZoomGrid = field(default_factory=ZoomGrid)
    batch_size: int = 64              # crops per model call; batches span images
    workers: int = min(4, os.cpu_count() or 1)  # decode + resize threads
    resize: str = "auto"              # pil | device (torch on the model's device); auto: device on CUDA
    shard: tuple[int, int] | None = None  # (k, n): only images k, k + n, k + 2n, ... of the source
    until_correct: bool = False       # stop at each image's first correct transform
    order: str | None = None          # analysis.json whose min_cover orders --until-correct
    flush_seconds: float = 30.0       # how much finished work a kill can cost, at most
    progress: bool = True
    quiet: bool = False               # no progress bar and no log lines (the command line's -q)
    engine: str = "local"             # local | ray (zoomhard.sweep.engines)
    ray_address: str | None = None    # join this Ray cluster; None: start a local one

    def __post_init__(self):
        self.check()

    def check(self, here: bool = False) -> None:
        """Every option in range, or one UsageError saying which and what is valid: the same
        for the command line, zoomhard.sweep() and a study file. run_sweep checks again with
        `here` (a config may be changed after it was made), when the device must also exist
        on this machine (unless Ray's workers run the model)."""
        check_setup(self.setup, needs_data=True)
        if not isinstance(self.grid, ZoomGrid):
            raise UsageError(f"grid must be a zoomhard.ZoomGrid, not {type(self.grid).__name__}")
        check_batching(self)
        checks.choice("engine", self.engine, ENGINES)
        checks.choice("resize", self.resize, ("auto", "pil", "device"))
        self.flush_seconds = checks.seconds("flush_seconds", self.flush_seconds)
        self.shard = checks.shard(self.shard)
        checks.check_memory(self.batch_size, self.workers, self.grid.crop, max(self.grid.scales),
                            self.grid.rows * self.grid.cols)
        checks.out_folder(self.out)
        checks.device(self.setup.device, here=here and self.engine != "ray")
