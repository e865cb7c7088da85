"""What sweep, bench and tta share about a run's model, data and protocol: one frozen `Setup`.

    Setup -> open_data()        the images, relabelled with ReaL labels when asked
          -> open_classifier()  the model with its normalisation (--mean/--std, --clip-norm,
                                the protocol's), on its backend and device

Each command's config adds what is its own (the grid and the run folder of a sweep, the models
and CSVs of a bench) and hands its `setup` to these two, so a model or data option means the
same in every command.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Callable

from .data import Source, open_source
from .models import Classifier, Preprocess, load_classifier
from .protocols import RelabelledSource

Stats = tuple[float, ...]


@dataclass(frozen=True)
class Setup:
    model: str                         # a model spec (see `zoomhard models`)
    data: str                          # a data spec (see `zoomhard datasets`)
    weights: str | None = None         # a local state dict for the model
    labels: str | None = None          # labels CSV for a plain folder of images
    subset: str = "auto"               # class space; auto: the class folders present (the study's rule)
    real_labels: str | None = None     # ReaL labels JSON (protocols.RelabelledSource)
    real_mode: str = "original+real"
    clip_norm: str | None = None       # open_clip: "clip" | "imagenet"; None: the command's default
    mean: Stats | None = None          # override the model's normalisation
    std: Stats | None = None
    protocol: str = "native"           # "study": the authors' setup (zoomhard.study)
    backend: str = "auto"
    device: str = "auto"
    allow_outside_root: bool = False   # read files a dataset names outside its own folder

    @classmethod
    def of(cls, config, **changes) -> "Setup":
        """The Setup part of a command's config (an object with these attributes, or `changes`)."""
        return cls(**{f.name: changes[f.name] if f.name in changes else getattr(config, f.name) for f in fields(cls)})


SETUP_FIELDS = tuple(f.name for f in fields(Setup))


def open_data(setup: Setup) -> Source:
    """The images the setup names, relabelled with ReaL labels when asked."""
    source = open_source(setup.data, labels=setup.labels, allow_outside_root=setup.allow_outside_root)
    return RelabelledSource(source, setup.real_labels, setup.real_mode) if setup.real_labels else source


def open_classifier(setup: Setup, device: str | None = None, crop: int | None = 224,
                    preprocess: Preprocess | Callable[[Preprocess], Preprocess] | None = None,
                    clip_norm: str | None = None) -> Classifier:
    """The setup's model on `device` (default: the setup's). `clip_norm` is the command's
    default for an open_clip model's normalisation when the setup names none; an explicit
    --mean/--std wins over both. The study protocol runs in fp32."""
    from . import study
    from .models.clip import clip_norm_stats

    mean, std = clip_norm_stats(setup.model, setup.clip_norm or clip_norm or "clip")
    return load_classifier(setup.model, setup.weights, setup.backend, device or setup.device, crop=crop,
                           mean=setup.mean or mean, std=setup.std or std, preprocess=preprocess,
                           fp32=study.fp32(setup.protocol))
