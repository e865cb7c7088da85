"""Classifiers by SPEC, parsed in one place (`parse_spec`), each with its own preprocessing.

Each model source (lite0, torchvision:NAME, timm:NAME, open_clip:ARCH/PRETRAINED,
hfmodel:ORG/NAME, onnx:PATH) is one entry of `registry.SOURCES`; `zoomhard models` lists them.

`load_model` gives the torch module (for anything that needs gradients); `load_classifier` gives
the fast inference path: ONNX Runtime on CPU, torch with fp16 autocast and channels_last on CUDA.
"""

from __future__ import annotations

from .base import Classifier, ModelError, Preprocess
from .registry import (MODEL_SOURCES, SOURCES, ModelSource, list_models, load_classifier, load_model, model_help,
                       parse_spec)

__all__ = ["Classifier", "ModelError", "ModelSource", "Preprocess", "MODEL_SOURCES", "SOURCES", "list_models",
           "load_classifier", "load_model", "model_help", "parse_spec"]
