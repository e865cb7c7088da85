"""Hugging Face transformers image classifiers: `hfmodel:ORG/NAME` (or a local save_pretrained
folder), when transformers is installed (pip install 'zoomhard[transformers]').

Only ImageNet-1k heads (1000 labels) are accepted; preprocessing comes from the model's image
processor config (mean/std, resize, crop, resample).
"""

from __future__ import annotations

from pathlib import Path

from ..net import hf_offline, require_network
from .base import IMAGENET_MEAN, IMAGENET_STD, ModelError, Preprocess

# PIL resample codes as stored in image processor configs
_RESAMPLE = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}


def _preprocess(proc) -> Preprocess:
    mean = tuple(getattr(proc, "image_mean", None) or IMAGENET_MEAN)
    std = tuple(getattr(proc, "image_std", None) or IMAGENET_STD)
    interpolation = _RESAMPLE.get(int(getattr(proc, "resample", 3) or 3), "bicubic")
    size = getattr(proc, "size", None) or {}
    crop = getattr(proc, "crop_size", None) or {}
    input_size = crop.get("height") or size.get("height") or size.get("shortest_edge") or 224
    crop_pct = getattr(proc, "crop_pct", None)
    if crop_pct is None:
        resize = size.get("shortest_edge") or size.get("height") or input_size
        crop_pct = input_size / resize if getattr(proc, "do_center_crop", False) else 1.0
    return Preprocess(mean, std, interpolation, float(crop_pct), int(input_size))


def build_hfmodel(name: str, weights: str | None):
    try:
        import transformers
    except ImportError:
        raise ModelError(f"hfmodel:{name} needs Hugging Face transformers: pip install 'zoomhard[transformers]'") from None
    if weights is not None:
        raise ModelError("hfmodel: takes no --weights; give a local save_pretrained folder as hfmodel:PATH")
    local = Path(name).expanduser().is_dir()
    offline = hf_offline()
    if not local and not offline:
        require_network("huggingface.co", f"hfmodel:{name}", "save it with save_pretrained where there is a "
                        "network and pass hfmodel:PATH")
    try:
        model = transformers.AutoModelForImageClassification.from_pretrained(name, local_files_only=local or offline)
        proc = transformers.AutoImageProcessor.from_pretrained(name, local_files_only=local or offline)
    except Exception as e:  # hub, config and weight errors come in many types
        where = "not in the local cache and HF_HUB_OFFLINE is set" if offline and not local else \
            f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
        raise ModelError(f"hfmodel:{name}: cannot load ({where})") from None
    if model.config.num_labels != 1000:
        raise ModelError(f"hfmodel:{name} has {model.config.num_labels} labels; zoomhard needs an ImageNet-1k head")

    import torch

    class LogitsOnly(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, x):
            return self.model(pixel_values=x).logits

    return LogitsOnly().eval(), _preprocess(proc)
