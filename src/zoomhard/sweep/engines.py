"""Ways to run a sweep, looked up by name (`--engine`, `zoomhard.sweep(engine=...)`).

    local   threads on this machine (zoomhard.sweep.local)
    ray     a Ray Data pipeline on a Ray cluster, or on a local one (zoomhard.sweep.ray)

Every engine takes (SweepConfig, log, source=None, classifier=None), scores what its model
returns, and writes the same run folder through a zoomhard.sweep.session.Session: same rows,
same top-1, resumable by any other. An engine's module is imported only when it runs.
"""

from __future__ import annotations

from importlib import import_module
from typing import Callable

from ..errors import UsageError

# name -> (module, function) of the engine
_ENGINES: dict[str, tuple[str, str]] = {
    "local": ("zoomhard.sweep.local", "run_local"),
    "ray": ("zoomhard.sweep.ray", "run_ray_sweep"),
}
ENGINES = tuple(_ENGINES)


def engine(name: str) -> Callable[..., dict]:
    """The run function of the engine called `name`; an unknown name lists the choices."""
    if name not in _ENGINES:
        raise UsageError(f"unknown engine {name!r}; choose one of: {', '.join(ENGINES)}")
    module, function = _ENGINES[name]
    return getattr(import_module(module), function)
