"""zoomhard: would the classifier get this image right if it looked at the right part of it?

    import zoomhard as zh
    run = zh.sweep("lite0", "samples", scales="224,256,384")   # or a torch module, a list of images
    run.to_pandas(); run.summary; run.analyze().min_cover; run.report("report.html")

Every error that is the caller's to fix is a zh.ZoomhardError (zoomhard.errors lists them).

The command line (`zoomhard --help`) does the same over run folders.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["Analysis", "Run", "Zoom", "ZoomGrid", "ZoomTTA", "ZoomhardError", "open_run", "sweep"]

from .errors import ZoomhardError
from .grid import Zoom, ZoomGrid
from .results import Analysis, Run, open_run
# Last: importing the engine module zoomhard.sweep binds that name to the module; the public
# name is the function.
from .library import sweep


def __getattr__(name: str):
    # ZoomTTA needs torch: imported on first use, so that the command line starts without it
    if name == "ZoomTTA":
        from .tta.wrapper import ZoomTTA

        return ZoomTTA
    raise AttributeError(f"module 'zoomhard' has no attribute {name!r}")
