"""What sweep, bench, tta and look share about a run's model, data and protocol: one frozen
`Setup` (a sweep's whole config, `SweepConfig`, is in zoomhard.sweep.config).

    Setup -> open_data()        the images, relabelled with ReaL labels when asked
          -> open_classifier()  the model with its normalisation (--mean/--std, --clip-norm,
                                the protocol's: protocol.resolve), on its backend and device

Each command's config holds one `setup` (bench: one per model) and adds what is its own (the
grid and the run folder of a sweep, the CSVs of a bench) and hands its `setup` to these two, so
a model or data option means the same in every command. `split_options` turns the flat keyword
options of the Python API into the two parts.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from . import checks
from .data import Source, open_source
from .errors import UsageError
from .grid import ZoomGrid
from .models import Classifier, load_classifier
from .models.base import check_output_width
from .protocols import RelabelledSource

Stats = tuple[float, ...]


@dataclass(frozen=True)
class Setup:
    model: str                         # a model spec (see `zoomhard models`)
    data: str | None = None            # a data spec (see `zoomhard datasets`); None: look's single images
    weights: str | None = None         # a local state dict for the model
    labels: str | None = None          # labels CSV for a plain folder of images
    subset: str = "auto"               # class space; auto: the class folders present (the study's rule)
    real_labels: str | None = None     # ReaL labels JSON (protocols.RelabelledSource)
    real_mode: str = "original+real"
    clip_norm: str | None = None       # open_clip: "clip" | "imagenet"; None: the protocol's (protocol.resolve)
    mean: Stats | None = None          # override the model's normalisation
    std: Stats | None = None
    protocol: str = "native"           # "study": the authors' setup (zoomhard.protocol)
    backend: str = "auto"
    device: str = "auto"
    allow_outside_root: bool = False   # read files a dataset names outside its own folder
    drop_background: bool = False      # a 1001-wide model: drop its first logit (a background class)

    def __post_init__(self):
        from . import protocol
        from .models.backends import BACKENDS
        from .models.clip import CLIP_NORMS
        from .protocols import REAL_MODES, SUBSET_CHOICES

        checks.choice("protocol", self.protocol, protocol.PROTOCOLS)
        checks.choice("backend", self.backend, BACKENDS)
        checks.choice("subset", self.subset, SUBSET_CHOICES)
        checks.choice("real_mode", self.real_mode, REAL_MODES)
        if self.clip_norm is not None:
            checks.choice("clip_norm", self.clip_norm, CLIP_NORMS)
        checks.device(self.device)
        protocol.check_model(self.model, self.weights, self.protocol)


SETUP_FIELDS = tuple(f.name for f in fields(Setup))


def split_options(options: dict) -> tuple[dict, dict]:
    """Flat keyword options (zoomhard.sweep's, a script's) -> (Setup's fields, the command's own)."""
    setup = {k: v for k, v in options.items() if k in SETUP_FIELDS}
    return setup, {k: v for k, v in options.items() if k not in SETUP_FIELDS}


def check_setup(setup, needs_data: bool = False) -> None:
    """A command's `setup` is a Setup (its fields checked when it was made), with data if it reads any."""
    if not isinstance(setup, Setup):
        raise UsageError(f"setup must be a zoomhard.config.Setup, not {type(setup).__name__}")
    if needs_data and not setup.data:
        raise UsageError("give the data to run on (a data spec: see `zoomhard datasets`)")


def check_batching(config) -> None:
    """batch_size and workers of a sweep, bench or tta config: whole numbers in range."""
    config.batch_size = checks.whole("batch_size", config.batch_size, 1, checks.MAX_BATCH_SIZE)
    config.workers = checks.whole("workers", config.workers, 1, checks.MAX_WORKERS)


def open_data(setup: Setup) -> Source:
    """The images the setup names, relabelled with ReaL labels when asked."""
    source = open_source(setup.data, labels=setup.labels, allow_outside_root=setup.allow_outside_root)
    return RelabelledSource(source, setup.real_labels, setup.real_mode) if setup.real_labels else source


def open_classifier(setup: Setup, command: str, device: str | None = None, crop: int | None = 224) -> Classifier:
    """The setup's model on `device` (default: the setup's), with the normalisation, eval crop and
    precision protocol.resolve decides for `command`. A model whose output is not ImageNet-1k's
    1000 logits (1001 with `drop_background`) is refused on a probe crop (models.base.check_output_width)."""
    from . import protocol

    chosen = protocol.resolve(setup, command)
    clf = load_classifier(setup.model, setup.weights, setup.backend, device or setup.device, crop=crop,
                          mean=chosen.mean, std=chosen.std, preprocess=chosen.preprocess, fp32=chosen.fp32)
    return check_output_width(clf, setup.drop_background, crop)
