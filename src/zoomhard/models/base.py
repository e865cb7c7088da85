from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from ..errors import ModelError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PREPROCESS_KEY = "zoomhard.preprocess"  # ONNX metadata entry holding a Preprocess as JSON


def cache_dir() -> Path:
    """Where ONNX exports and CLIP text heads are kept between runs (ZOOMHARD_CACHE)."""
    return Path(os.environ.get("ZOOMHARD_CACHE", Path.home() / ".cache" / "zoomhard"))


@dataclass(frozen=True)
class Preprocess:
    """How a model wants its pixels: normalisation for every crop, and the single-crop eval
    transform (resize to input_size / crop_pct, centre crop input_size) for benchmarks."""

    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    interpolation: str = "bicubic"
    crop_pct: float = 0.875
    input_size: int = 224

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def eval_resize(self) -> int:
        """The shorter side before the eval centre crop: floor(input_size / crop_pct), timm's rule."""
        return int(math.floor(self.input_size / self.crop_pct + 1e-6))

    def describe_eval(self) -> str:
        """The single-crop eval transform in words: 'shorter side 274 (bicubic), centre 240-px crop'."""
        return f"shorter side {self.eval_resize} ({self.interpolation}), centre {self.input_size}-px crop"

    def override(self, mean: tuple[float, ...] | None = None, std: tuple[float, ...] | None = None) -> "Preprocess":
        """The command line's mean/std win over the model's own."""
        return replace(self, mean=tuple(mean) if mean else self.mean, std=tuple(std) if std else self.std)

    def normalize(self, crops: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """uint8 (n, h, w, 3) -> float32 (n, 3, h, w), (x / 255 - mean) / std; written into
        `out` when it is large enough (fresh 40 MB arrays cost page faults, batch after batch)."""
        scale = (1.0 / (255.0 * np.asarray(self.std, dtype=np.float32))).reshape(1, 3, 1, 1)
        shift = (np.asarray(self.mean, dtype=np.float32) / np.asarray(self.std, dtype=np.float32)).reshape(1, 3, 1, 1)
        n, h, w = crops.shape[:3]
        if out is None or out.dtype != np.float32 or out.shape[1:] != (3, h, w) or len(out) < n:
            out = np.empty((n, 3, h, w), dtype=np.float32)
        x = out[:n]
        np.multiply(crops.transpose(0, 3, 1, 2), scale, out=x)
        x -= shift
        return x


class Classifier:
    """Logits for a batch of uint8 crops. Subclasses: models.backends' TorchClassifier and
    OnnxClassifier."""

    spec: str
    preprocess: Preprocess
    backend: str
    device: str = "cpu"
    num_classes: int = 1000
    weights: dict | None = None  # models.weights.weights_record, set by load_classifier
    activation: str | None = None  # open_clip: 'quick_gelu' or 'gelu' (models.clip.clip_activation)
    label_offset: int = 0  # logits dropped before ImageNet's 1000 (1: a background class first)

    def logits(self, crops: np.ndarray) -> np.ndarray:
        return self.infer(self.prepare(crops))

    def prepare(self, crops, out=None):
        """uint8 (n, h, w, 3) crops -> this model's input, not sharing memory with `crops` (the
        caller may reuse them); written into `out`, an earlier result, where it fits. Cheap work
        that can run while the previous batch is in `infer`."""
        if out is None or out.shape[1:] != crops.shape[1:] or len(out) < len(crops):
            return crops.clone() if hasattr(crops, "clone") else np.array(crops)
        out[:len(crops)] = crops
        return out[:len(crops)]

    def infer(self, prepared) -> np.ndarray:
        """Logits for what `prepare` returned."""
        raise NotImplementedError

    def describe(self) -> dict:
        out = {"spec": self.spec, "backend": self.backend, "device": self.device,
               "preprocess": self.preprocess.to_dict(), "precision": self.precision}
        if self.label_offset:
            out["label_offset"] = self.label_offset
        if self.weights is not None:
            out["weights"] = self.weights
        if self.activation is not None:
            out["activation"] = self.activation
        return out

    @property
    def precision(self) -> str:
        return "fp32"


IMAGENET_CLASSES = 1000


def check_output_width(clf: Classifier, drop_background: bool = False, crop: int | None = None) -> Classifier:
    """The classifier, once one probe crop shows that it gives ImageNet-1k's 1000 logits, or a
    ModelError in one line: a 10-class head or ImageNet-22k's 21,843 would otherwise be scored
    against ImageNet's labels. A 1001-wide output (TensorFlow models put a background class
    first) is taken with `drop_background`, which drops the first logit (timm's label_offset)."""
    size = crop or clf.preprocess.input_size
    clf.label_offset = 0
    y = np.asarray(clf.logits(np.zeros((1, size, size, 3), np.uint8)))
    width = int(y.shape[-1]) if y.ndim == 2 and len(y) == 1 else None
    if width is None:
        raise ModelError(f"{clf.spec}: gives an output of shape {tuple(y.shape)} for one crop; zoomhard needs "
                         f"({IMAGENET_CLASSES},) logits per crop, ImageNet-1k's classes")
    if drop_background:
        if width != IMAGENET_CLASSES + 1:
            raise ModelError(f"{clf.spec}: --drop-background needs {IMAGENET_CLASSES + 1} outputs (a background "
                             f"class, then ImageNet's {IMAGENET_CLASSES}); this model gives {width}")
        clf.label_offset = 1
    elif width == IMAGENET_CLASSES + 1:
        raise ModelError(f"{clf.spec}: gives {width} logits, not ImageNet-1k's {IMAGENET_CLASSES}; if the first is "
                         "a background class (TensorFlow models), pass --drop-background (drop_background=True) "
                         "to drop it")
    elif width != IMAGENET_CLASSES:
        raise ModelError(f"{clf.spec}: gives {width} logits, not ImageNet-1k's {IMAGENET_CLASSES}: its predictions "
                         "cannot be scored against ImageNet's labels (a 1001-wide model with a background class "
                         "first: --drop-background)")
    clf.num_classes = IMAGENET_CLASSES
    return clf


