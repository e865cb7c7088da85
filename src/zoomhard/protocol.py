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
    model         a bare torchvision spec whose default weights are not the ones the study
                  loaded (`torchvision:resnet50`: IMAGENET1K_V2, the study's IMAGENET1K_V1) is
                  refused, naming the tag to add; a spec with a tag, or --weights, runs as given
An explicit --clip-norm or --views wins over the protocol's.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

from .errors import UsageError
from .models.base import Preprocess
from .spec import ModelSpec

PROTOCOLS = ("native", "study")
VIEWS = {"native": 16, "study": 64}   # MEMO's views per image
STUDY_RESIZE, STUDY_CROP = 256, 224
L2_SIZE = 800


def check(protocol: str) -> str:
    if protocol not in PROTOCOLS:
        raise UsageError(f"unknown protocol {protocol!r}; choose one of: {', '.join(PROTOCOLS)}")
    return protocol


def check_model(spec: str, weights: str | None, protocol: str) -> None:
    """Refuse, under the study's protocol, a bare torchvision spec whose DEFAULT weights are
    not the ones the study ran for that architecture: a figure from them would pass for the
    study's. The refusal names the tag to add (or the one to keep these weights)."""
    if check(protocol) != "study" or weights or ModelSpec.parse(spec).source != "torchvision":
        return
    from .paper import default_tag, split_tag, study_models

    base, tag = split_tag(spec)
    if tag is not None:
        return
    ran = sorted({m.tag for m in study_models() if m.spec == base and m.tag})
    loads = default_tag(base)
    if ran and loads not in ran:
        raise UsageError(f"--protocol study: the study ran {base} with {ran[0]} weights, but the bare spec "
                         f"loads {loads}; write {base}.{ran[0]} (or {base}.{loads} to keep {loads})")


def bench_preprocess(spec: str, own: Preprocess) -> Preprocess:
    """The study's single-crop eval for `spec`, with the model's own normalisation."""
    ms = ModelSpec.parse(spec)
    if ms.source == "open_clip":
        return own
    if ms.source == "timm" and ms.name.startswith("tf_efficientnet_l2"):
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
