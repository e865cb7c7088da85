"""`zoomhard.sweep`: the command line's sweep from Python, over specs or Python objects.

The model is a spec string, an ONNX file or a torch module; the data a data spec or an iterable
of (image, labels[, image_id]). Either way the sweep is sweep.run_sweep's: the same crops,
batches and run folder, so a Python sweep and `zoomhard sweep` give the same predictions.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from dataclasses import fields
from pathlib import Path

from .errors import ArgumentError, ModelArgumentError
from .grid import ZoomGrid
from .models.base import Preprocess
from .results import Run
from .config import SETUP_FIELDS, Setup, split_options
from .sweep import SweepConfig, run_sweep

# Fields that are not options: set from sweep()'s own arguments.
_NOT_OPTIONS = {"model", "data", "setup", "out", "grid"}
# Options of the command line that build the grid rather than set a SweepConfig field.
_GRID_OPTIONS = ("scales", "anchors", "crop")


def option_names() -> list[str]:
    """Every keyword zoomhard.sweep takes besides model, data, grid and out: Setup's and the sweep's own."""
    own = [f.name for f in fields(SweepConfig)]
    return sorted(n for n in [*SETUP_FIELDS, *own, *_GRID_OPTIONS] if n not in _NOT_OPTIONS)


def _grid(grid: ZoomGrid | None, scales, anchors, crop) -> ZoomGrid:
    if grid is not None:
        if (scales, anchors, crop) != (None, None, None):
            raise ArgumentError("give either grid= or scales=/anchors=/crop=, not both")
        if not isinstance(grid, ZoomGrid):
            raise ArgumentError(f"grid must be a zoomhard.ZoomGrid, not {type(grid).__name__}")
        return grid
    if isinstance(scales, str) or scales is None:
        scales = ZoomGrid.parse_scales("study" if scales is None else scales)
    anchors = 3 if anchors is None else anchors
    return ZoomGrid(tuple(scales), anchors, anchors, 224 if crop is None else crop)


def _config(model_spec: str, data_spec: str, out: str, grid: ZoomGrid, options: dict) -> SweepConfig:
    unknown = sorted(set(options) - set(option_names()))
    if unknown:
        raise ArgumentError(f"zoomhard.sweep() got unknown keyword(s) {', '.join(unknown)}; "
                        f"valid: {', '.join(option_names())}")
    options = {name: tuple(value) if name in ("mean", "std", "shard") and isinstance(value, (list, tuple)) else value
               for name, value in options.items()}
    setup, own = split_options(options)
    return SweepConfig(Setup(model=model_spec, data=data_spec, **setup), out=out, grid=grid, **own)


def module_preprocess(module, mean, std) -> Preprocess:
    """mean/std given, else the module's own (timm's pretrained_cfg), else one clear error."""
    cfg = getattr(module, "pretrained_cfg", None) or getattr(module, "default_cfg", None) or {}
    mean = mean if mean is not None else cfg.get("mean")
    std = std if std is not None else cfg.get("std")
    if mean is None or std is None:
        raise ModelArgumentError("a torch module needs its normalisation: pass mean= and std= in [0, 1] pixel "
                                 "units, e.g. mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225) for "
                                 "torchvision's ImageNet models")
    mean, std = tuple(float(x) for x in mean), tuple(float(x) for x in std)
    if len(mean) != 3 or len(std) != 3:
        raise ModelArgumentError(f"mean and std need three values (R, G, B); got {mean} and {std}")
    if max(mean) > 1 or max(std) > 1 or min(std) <= 0:
        raise ModelArgumentError(f"mean {mean} / std {std} are not in [0, 1] pixel units (as torchvision writes "
                                 "them); divide 0-255 values by 255")
    return Preprocess(mean, std)


def _module_spec(module) -> str:
    from .models.backends import module_digest

    return f"module:{type(module).__module__}.{type(module).__qualname__}@{module_digest(module)}"


def _module_device(module, device: str) -> str:
    """'auto': where the module's weights are, so the user's module is not moved."""
    if device != "auto":
        return "cuda" if device == "cuda" else device
    first = next(iter(module.parameters()), None)
    return str(first.device) if first is not None else "cpu"


def _model_spec(model) -> str | None:
    """A spec string for a spec or an ONNX path; None for a torch module."""
    if isinstance(model, os.PathLike) or (isinstance(model, str) and model.lower().endswith(".onnx")
                                          and not model.startswith("onnx:")):
        return f"onnx:{os.fspath(model)}"
    if isinstance(model, str):
        return model
    return None


def _folder_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")[:60] or "run"


def sweep(model, data, *, grid: ZoomGrid | None = None, out: str | os.PathLike | None = None,
          mean=None, std=None, scales=None, anchors: int | None = None, crop: int | None = None,
          **options) -> Run:
    """Every image of `data` through every transform of `grid`, classified by `model`.

    model: a spec ('lite0', 'torchvision:resnet50', 'onnx:PATH', see `zoomhard models`), a path
        to an ONNX file, or a torch.nn.Module taking normalised NCHW float crops (give `mean` and
        `std` in [0, 1] pixel units, as torchvision writes them; a timm module brings its own).
    data: a data spec ('samples', a folder, 'parquet:GLOB', see `zoomhard datasets`), or an
        iterable of (image, labels) or (image, labels, image_id): image a PIL image, a path or
        the encoded bytes; labels an ImageNet-1k index, wnid or class name, or a list of them.
        Ids default to the position ('0', '1', ...).
    grid: the transforms (default: the study's 36 scales x 3 x 3 anchors); or `scales`
        ('224,256', a range '64:1024:64' or a list), `anchors` and `crop` as on the command line.
    out: a run folder, resumed if it holds this run (as `zoomhard sweep --out`); None keeps the
        run in a temporary folder that lives as long as the returned Run.
    options: every other option of `zoomhard sweep` by its field name (batch_size, workers,
        backend, device, subset, weights, labels, resize, until_correct, order, real_labels, ...).

    Images that cannot be used are recorded in `Run.errors`, as the command line does.
    """
    grid = _grid(grid, scales, anchors, crop)
    if isinstance(data, os.PathLike):  # a folder given as a Path is the folder's data spec
        data = os.fspath(data)
    spec = _model_spec(model)
    if spec is None and not _is_module(model):
        raise ModelArgumentError(f"model is a {type(model).__name__}; give a spec string ('lite0'), an ONNX path "
                                 "or a torch.nn.Module")
    temporary = None
    if out is None:
        temporary = tempfile.TemporaryDirectory(prefix="zoomhard-")
        name = spec or type(model).__name__
        out = Path(temporary.name) / _folder_name(f"{name}-{data}" if isinstance(data, str) else name)
    out = os.fspath(out)
    source = None
    if not isinstance(data, str):
        from .data.python import INPUTS, PythonSource

        source = PythonSource(data, Path(out) / INPUTS)
        if options.get("real_labels"):
            from .protocols import RelabelledSource

            source = RelabelledSource(source, options["real_labels"], options.get("real_mode", "original+real"))
    was_training = spec is None and model.training
    try:
        classifier = None
        if spec is None:
            cfg = _config(_module_spec(model), "python" if source is not None else data, out, grid, options)
            classifier = _module_classifier(model, cfg, mean, std)
        else:
            cfg = _config(spec, "python" if source is not None else data, out, grid, {**options, "mean": mean, "std": std})
        run_sweep(cfg, log=_log(cfg), source=source, classifier=classifier)
    finally:
        if was_training:  # the classifier put it in eval mode; hand it back as it came
            model.train(True)
    return Run(out, temporary)


def _is_module(model) -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    return isinstance(model, torch.nn.Module)


def _module_classifier(module, cfg: SweepConfig, mean, std):
    from .models.backends import module_classifier

    preprocess = module_preprocess(module, mean, std)
    setup = cfg.setup
    device = _module_device(module, setup.device)
    from .models.base import check_output_width

    clf = module_classifier(setup.model, module, preprocess, setup.backend, device, cfg.grid.crop,
                            _folder_name(type(module).__name__))
    return check_output_width(clf, setup.drop_background, cfg.grid.crop)


def _log(cfg: SweepConfig):
    if not cfg.progress or cfg.quiet:
        return lambda message: None
    return lambda message: print(message, file=sys.stderr)
