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
A setting can come from three places, and `resolve` decides it once for every command: the
user's flag, then what the protocol sets for that command (SETTINGS), then the model's own
config (its normalisation and eval crop, fp16 autocast on CUDA) or MEMO's own 16 views.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

from .errors import UsageError
from .models.base import Preprocess
from .spec import ModelSpec

PROTOCOLS = ("native", "study")
COMMANDS = ("sweep", "bench", "tta", "look")
MEMO_VIEWS = 16                       # MEMO's own views per image
# What each protocol sets, per command; a setting left out is the model's own (MEMO's own views).
SETTINGS: dict[str, dict[str, dict]] = {
    "native": {command: {} for command in COMMANDS},
    "study": {
        "sweep": {"clip_norm": "imagenet", "fp32": True},       # eval-CLIP.py: CLIP with ImageNet's mean/std
        "bench": {"eval_crop": "study", "fp32": True},          # Resize(256) + CenterCrop(224); CLIP its own
        "tta": {"clip_norm": "imagenet", "fp32": True, "views": 64},   # MEMO's --batch_size
        "look": {"clip_norm": "imagenet", "fp32": True},
    },
}
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


def tta_transform(imagenet_c: bool = False) -> Callable:
    """MEMO's test transform on a PIL image: Resize(256) (bilinear) + CenterCrop(224), or
    CenterCrop(224) alone for ImageNet-C's 224-pixel images (MEMO's te_transforms_inc)."""
    from torchvision import transforms as T

    if imagenet_c:
        return T.CenterCrop(STUDY_CROP)
    return T.Compose([T.Resize(STUDY_RESIZE, interpolation=T.InterpolationMode.BILINEAR), T.CenterCrop(STUDY_CROP)])


def setting(name: str, flag, protocol: str, command: str):
    """One setting: the user's flag when given, else what `protocol` sets for `command`, else
    None (the model's own)."""
    return flag if flag is not None else SETTINGS[check(protocol)][command].get(name)


@dataclass(frozen=True)
class Resolved:
    """How a command runs its model; None keeps the model's own."""
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None
    preprocess: Callable[[Preprocess], Preprocess] | None   # the eval crop, of the model's own
    fp32: bool                                               # False: fp16 autocast on CUDA


def resolve(setup, command: str) -> Resolved:
    """How `setup` (a config.Setup) runs its model under `command`, each setting decided by
    `setting`: --mean/--std, then --clip-norm, then the protocol's clip_norm, then the model's own
    normalisation; the protocol's eval crop and precision, else the model's own."""
    from .models.clip import clip_norm_stats

    mean, std = clip_norm_stats(setup.model, setting("clip_norm", setup.clip_norm, setup.protocol, command) or "clip")
    crop = setting("eval_crop", None, setup.protocol, command)
    return Resolved(mean=setup.mean or mean, std=setup.std or std,
                    preprocess=(lambda own: bench_preprocess(setup.model, own)) if crop == "study" else None,
                    fp32=bool(setting("fp32", None, setup.protocol, command)))


def views(protocol: str, given: int | None) -> int:
    """MEMO's views per image: --views, else the protocol's, else MEMO's own."""
    return setting("views", given, protocol, "tta") or MEMO_VIEWS
