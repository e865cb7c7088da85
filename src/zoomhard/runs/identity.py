"""What a run is: the keys that must match for a folder to be resumed, their digest stamped on
every part, and the library versions a run records beside them.

A run's identity (IDENTITY_KEYS: model, the content of its weights and labels files, grid, data,
class subset, mode, protocol) decides whether a folder is resumed or refused.
"""

from __future__ import annotations

import hashlib
import json

from ..errors import RunError


# The keys of run.json that must match for a run to be resumed rather than refused.
IDENTITY_KEYS = ("model", "weights", "digests", "grid", "data", "subset", "mode", "protocol")
# What a run.json written before a key existed means by its absence.
IDENTITY_DEFAULTS = {"protocol": "native", "digests": {}}
IDENTITY_META = b"zoomhard.run"  # parts' schema metadata: the identity digest of their run


def identity_value(config: dict, key: str):
    """config's value of an identity key, its default when a run.json predates the key."""
    return config.get(key, IDENTITY_DEFAULTS.get(key))


def identity_digest(config: dict) -> str:
    """A short digest of a run's identity keys, stamped on each of its parts."""
    identity = {k: identity_value(config, k) for k in IDENTITY_KEYS}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def library_versions() -> dict:
    import importlib.metadata as md

    out = {}
    for pkg in ("zoomhard", "torch", "torchvision", "timm", "onnxruntime", "pyarrow", "pillow", "numpy"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


class IdentityError(RunError):
    """The folder holds a run of another identity (IDENTITY_KEYS): another model, grid, data..."""


def brief(key: str, value) -> str:
    """A run.json identity value as a user reads it in one line."""
    if key == "grid" and isinstance(value, dict):
        scales = value.get("scales", [])
        span = f"{scales[0]}-{scales[-1]}" if scales else "none"
        return f"{len(scales)} scales {span}, {value.get('rows')}x{value.get('cols')} anchors, crop {value.get('crop')}"
    if key == "data" and isinstance(value, dict):
        return value.get("spec", repr(value))
    if key == "digests" and isinstance(value, dict):
        return ", ".join(f"{what} file sha256 {digest[:12]}" for what, digest in sorted(value.items())) or "none"
    return repr(value)
