"""A sweep's images and model, from its config: the same for every engine."""

from __future__ import annotations

from ..config import open_classifier, open_data
from .config import SweepConfig
from ..data import Source
from ..models import Classifier


def run_source(cfg: SweepConfig, source: Source | None = None) -> Source:
    """The images a sweep covers (`source`, or the data cfg names, relabelled with ReaL labels
    when asked); data without a single image is refused."""
    source = source if source is not None else open_data(cfg.setup)
    if len(source) == 0:
        from ..data import DataError

        data = cfg.setup.data
        raise DataError(f"{'the data given' if data == 'python' else data} holds no images: nothing to "
                        "sweep; give a folder, file or list with at least one image")
    return source


def run_classifier(cfg: SweepConfig, device: str) -> Classifier:
    """The sweep's model on `device`, normalised as protocol.resolve decides for a sweep."""
    return open_classifier(cfg.setup, "sweep", device, crop=cfg.grid.crop)
