"""`--protocol`: each model's own configuration (native), or the authors' setup (study).

Under `study`:
    bench         Resize(256) bilinear + CenterCrop(224) for every model, each with its own
                  normalisation; EfficientNet-L2 (timm tf_efficientnet_l2*): Resize(800) +
                  CenterCrop(800) bilinear; open_clip models: their own preprocessing
                  (the authors' ImageNet-Hard benchmark notebook and CLIP scripts)
    tta           the baseline and MEMO's final prediction see MEMO's test crop, Resize(256)
                  bilinear + CenterCrop(224), or CenterCrop(224) alone for ImageNet-C
                  (`--imagenet-c`); MEMO takes 64 views (MEMO's --batch_size, which the
                  authors' run scripts keep)
    sweep         open_clip models normalise with ImageNet's mean/std (eval-CLIP.py)
    all           fp32 on CUDA rather than fp16 autocast (the authors ran fp32)
An explicit --clip-norm or --views wins over the protocol's.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

from .errors import UsageError
from .models.base import Preprocess

PROTOCOLS = ("native", "study")
VIEWS = {"native": 16, "study": 64}   # MEMO's views per image
STUDY_RESIZE, STUDY_CROP = 256, 224
L2_SIZE = 800


def check(protocol: str) -> str:
    if protocol not in PROTOCOLS:
        raise UsageError(f"unknown protocol {protocol!r}; choose one of: {', '.join(PROTOCOLS)}")
    return protocol


def bench_preprocess(spec: str, own: Preprocess) -> Preprocess:
    """The study's single-crop eval for `spec`, with the model's own normalisation."""
    source, _, name = spec.partition(":")
    if source == "open_clip":
        return own
    if source == "timm" and name.startswith("tf_efficientnet_l2"):
        return replace(own, interpolation="bilinear", crop_pct=1.0, input_size=L2_SIZE)
    return replace(own, interpolation="bilinear", crop_pct=STUDY_CROP / STUDY_RESIZE, input_size=STUDY_CROP)


def eval_preprocess(spec: str, protocol: str) -> Callable[[Preprocess], Preprocess] | None:
    """What bench hands load_classifier as `preprocess`: None keeps the model's own."""
    return (lambda own: bench_preprocess(spec, own)) if check(protocol) == "study" else None


def tta_transform(imagenet_c: bool = False) -> Callable:
    """MEMO's test transform on a PIL image: Resize(256) (bilinear) + CenterCrop(224), or
    CenterCrop(224) alone for ImageNet-C's 224-pixel images (MEMO's te_transforms_inc)."""
    from torchvision import transforms as T

    if imagenet_c:
        return T.CenterCrop(STUDY_CROP)
    return T.Compose([T.Resize(STUDY_RESIZE, interpolation=T.InterpolationMode.BILINEAR), T.CenterCrop(STUDY_CROP)])


def clip_norm(protocol: str, given: str | None) -> str:
    """The sweep's open_clip normalisation: the command line's, else ImageNet's under study."""
    return given or ("imagenet" if check(protocol) == "study" else "clip")


def views(protocol: str, given: int | None) -> int:
    return given if given is not None else VIEWS[check(protocol)]


def fp32(protocol: str) -> bool:
    return check(protocol) == "study"
