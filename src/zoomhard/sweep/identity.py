"""What a sweep records as its run's identity (runs.identity.IDENTITY_KEYS: what must match for
a folder to be resumed), whatever the engine."""

from __future__ import annotations

import os

from .config import SweepConfig
from ..data import Source
from ..data.confine import source_roots
from ..models.weights import weights_tag
from ..protocols import ClassSpace
from ..runs.files import file_sha256
from ..spec import onnx_path


def run_identity(cfg: SweepConfig, source: Source, space: ClassSpace) -> dict:
    """What must match for a run folder to be resumed (runs.identity.IDENTITY_KEYS), whatever the engine."""
    setup = cfg.setup
    return {
        "model": setup.model,
        "weights": os.path.abspath(setup.weights) if setup.weights else None,
        "digests": input_digests(cfg, source),
        "grid": cfg.grid.to_dict(),
        "data": {k: v for k, v in source.describe().items() if k != "images"},
        "subset": {"name": space.name, "classes": space.classes},
        "mode": "until-correct" if cfg.until_correct else "full",
        "protocol": setup.protocol,
        "weights_tag": weights_tag(setup.model, setup.weights),  # recorded, not compared: the spec decides it
        "locator_roots": source_roots(source),   # recorded, not compared: where readers may read images
    }


def input_digests(cfg: SweepConfig, source: Source) -> dict[str, str]:
    """sha256 of the local files whose content decides the results under the same names: the
    weights (or the onnx:PATH model), the labels and ReaL labels files. A file replaced at the same
    path is then another run, not a resume."""
    setup = cfg.setup
    inner = getattr(source, "inner", source)  # under a RelabelledSource
    files = {"weights": setup.weights, "labels": getattr(inner, "labels_file", None),
             "real_labels": setup.real_labels, "model": onnx_path(setup.model)}
    return {what: file_sha256(path) for what, path in files.items() if path}
