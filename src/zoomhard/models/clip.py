"""Zero-shot CLIP through open_clip: `open_clip:ARCH/PRETRAINED` as a 1000-way ImageNet classifier.

The text side is folded into a fixed head once: for every ImageNet class, the 80 OpenAI
templates ("a bad photo of a {}.", ...) are encoded, each embedding normalised, their mean
normalised again; logits = 100 x cosine(image embedding, class embedding). The head is cached
under ZOOMHARD_CACHE/clip per (architecture, weights, class names, templates), so the module
the registry returns maps images to 1000 logits like any classifier: sweeps, subsets and the
ONNX export work unchanged.

Preprocessing is CLIP's own (its mean/std, resize the shorter side to the input size, centre
crop); `--clip-norm imagenet` swaps in the ImageNet mean/std, as the study did.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ..errors import UsageError
from ..runs.files import atomic_write, file_sha256
from ..spec import ModelSpec
from ..net import hf_offline, require_network
from .base import IMAGENET_MEAN, IMAGENET_STD, ModelError, Preprocess, cache_dir
from .weights import apply_weights

CLIP_NORMS = ("clip", "imagenet")


def _open_clip():
    try:
        import open_clip
    except ImportError:
        raise ModelError("open_clip: models need open_clip_torch: pip install 'zoomhard[clip]'") from None
    return open_clip


def split_name(name: str) -> tuple[str, str]:
    """'ViT-B-32/openai' -> ('ViT-B-32', 'openai'); 'ViT-B-32' -> ('ViT-B-32', '')."""
    arch, _, tag = name.partition("/")
    return arch, tag


def _check_arch(open_clip, arch: str) -> None:
    if arch not in open_clip.list_models():
        import difflib

        close = difflib.get_close_matches(arch, open_clip.list_models(), n=3)
        raise ModelError(f"open_clip has no architecture {arch!r}" + (f"; close: {', '.join(close)}" if close else ""))


def clip_activation(name: str) -> str:
    """'quick_gelu' or 'gelu': the activation the network behind `ARCH[/TAG]` was trained with.
    OpenAI's CLIP weights (and every tag whose open_clip config says so, or a -quickgelu
    architecture) are QuickGELU networks; open_clip builds a plain architecture with GELU unless
    asked, and only warns."""
    open_clip = _open_clip()
    arch, tag = split_name(name)
    _check_arch(open_clip, arch)
    quick = open_clip.get_model_config(arch).get("quick_gelu", False)
    if tag:
        quick = quick or bool(open_clip.get_pretrained_cfg(arch, tag).get("quick_gelu", False))
    return "quick_gelu" if quick else "gelu"


def clip_preprocess(arch: str, tag: str = "") -> Preprocess:
    """CLIP's eval transform without building the model: its mean/std (from the pretrained tag
    when it has them), bicubic resize of the shorter side to the input size, centre crop."""
    open_clip = _open_clip()
    _check_arch(open_clip, arch)
    from open_clip.transform import PreprocessCfg

    cfg = PreprocessCfg()
    size = open_clip.get_model_config(arch)["vision_cfg"].get("image_size", cfg.size)
    pre = open_clip.get_pretrained_cfg(arch, tag) if tag else {}
    size = size if isinstance(size, int) else size[0]
    return Preprocess(tuple(pre.get("mean", cfg.mean)), tuple(pre.get("std", cfg.std)),
                      pre.get("interpolation", cfg.interpolation), 1.0, int(size))


def clip_norm_stats(spec: str, clip_norm: str = "clip") -> tuple[tuple[float, ...] | None, tuple[float, ...] | None]:
    """(mean, std) that --clip-norm puts on `spec` in place of its own, or (None, None): only
    open_clip models with --clip-norm imagenet (the study's) change."""
    if clip_norm not in CLIP_NORMS:
        raise UsageError(f"unknown --clip-norm {clip_norm!r}; choose one of: {', '.join(CLIP_NORMS)}")
    if clip_norm == "clip" or ModelSpec.parse(spec.strip()).source != "open_clip":
        return None, None
    return IMAGENET_MEAN, IMAGENET_STD


def imagenet_prompts() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """open_clip's ImageNet class names and the 80 OpenAI templates, as '{}' format strings."""
    from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES, OPENAI_IMAGENET_TEMPLATES

    templates = tuple(t("{}") if callable(t) else t for t in OPENAI_IMAGENET_TEMPLATES)
    return tuple(IMAGENET_CLASSNAMES), templates


def encode_text(model, tokens):
    """model.encode_text, cut to the longest prompt of the batch when that is exact: CLIP's causal
    text transformer pools at the end-of-text token, so the padding after it never matters.
    Prompts are ~20 of the 77 tokens: building the 1000 x 80 head is several times faster."""
    from open_clip.model import CLIP, text_global_pool

    mask = getattr(model, "attn_mask", None)
    if not (isinstance(model, CLIP) and getattr(model, "text_pool_type", "") == "argmax" and mask is not None):
        return model.encode_text(tokens)
    n = int((tokens != 0).sum(dim=1).max())
    tokens = tokens[:, :n]
    cast = model.transformer.get_cast_dtype()
    x = model.token_embedding(tokens).to(cast) + model.positional_embedding[:n].to(cast)
    x = model.ln_final(model.transformer(x, attn_mask=mask[:n, :n]))
    x = text_global_pool(x, tokens, "argmax")
    proj = model.text_projection
    if proj is None:
        return x
    return proj(x) if callable(proj) else x @ proj


def text_classifier(model, tokenizer, classnames, templates, batch_classes: int = 10):
    """(embed_dim, classes): per class, the mean of its normalised template embeddings, renormalised."""
    import torch
    import torch.nn.functional as F
    from tqdm.auto import tqdm

    columns = []
    with torch.inference_mode():
        for start in tqdm(range(0, len(classnames), batch_classes), desc="CLIP text classifier", unit="batch",
                          disable=len(classnames) * len(templates) < 20000, leave=False):
            names = classnames[start:start + batch_classes]
            tokens = tokenizer([t.format(c) for c in names for t in templates])
            emb = F.normalize(encode_text(model, tokens).float(), dim=-1)
            emb = emb.reshape(len(names), len(templates), -1).mean(dim=1)
            columns.append(F.normalize(emb, dim=-1))
    return torch.cat(columns).T.contiguous()


def cached_text_classifier(model, tokenizer, arch: str, weights_key: str, classnames, templates):
    import torch

    key = hashlib.sha256(json.dumps([arch, weights_key, list(classnames), list(templates)]).encode()).hexdigest()[:16]
    path = cache_dir() / "clip" / f"{arch.replace('/', '_')}-{key}.pt"
    if path.exists():
        return torch.load(path, map_location="cpu", weights_only=True)
    head = text_classifier(model, tokenizer, classnames, templates)
    atomic_write(path, lambda tmp: torch.save(head, tmp))
    return head


def zero_shot_module(visual, head):
    import torch
    import torch.nn.functional as F

    class ZeroShotCLIP(torch.nn.Module):
        """Images -> 100 x cosine similarity with each class's text embedding."""

        def __init__(self):
            super().__init__()
            self.visual = visual
            self.register_buffer("head", head)

        def forward(self, x):
            return 100.0 * F.normalize(self.visual(x), dim=-1) @ self.head

    return ZeroShotCLIP()


def _ensure_pretrained(open_clip, arch: str, tag: str, spec: str) -> None:
    """Fail within seconds, with the fix, when the pretrained weights would need a download."""
    cfg = open_clip.get_pretrained_cfg(arch, tag)
    if not cfg:
        tags = open_clip.list_pretrained_tags_by_model(arch)
        raise ModelError(f"{spec}: open_clip has no pretrained {tag!r} for {arch}"
                         + (f"; tags: {', '.join(tags)}" if tags else "") + "; or pass --weights PATH")
    fix = "pass --weights PATH with a local state dict (open_clip.create_model(arch).state_dict())"
    if cfg.get("hf_hub"):
        if not hf_offline():
            require_network("huggingface.co", f"{spec} pretrained weights", fix)
        return  # offline: open_clip reads the local hub cache, or fails (caught by the builder)
    url = cfg.get("url", "")
    cached = Path(os.path.expanduser("~/.cache/clip")) / os.path.basename(url)
    if url and not cached.exists():
        from urllib.parse import urlparse

        require_network(urlparse(url).hostname or url, f"{spec} pretrained weights", fix)


def build_open_clip(name: str, weights: str | None):
    """(zero-shot module, Preprocess) for open_clip:ARCH/PRETRAINED, or ARCH[/PRETRAINED] with
    --weights PATH; QuickGELU where the network was trained with it (clip_activation)."""
    open_clip = _open_clip()
    arch, tag = split_name(name)
    spec = f"open_clip:{name}"
    _check_arch(open_clip, arch)
    # a --weights file for an ARCH/TAG spec holds that tag's network: built as the tag asks
    quick = clip_activation(name) == "quick_gelu"
    if weights is None:
        if not tag:
            tags = open_clip.list_pretrained_tags_by_model(arch)
            raise ModelError(f"{spec}: name the pretrained weights as open_clip:{arch}/TAG"
                             + (f" (tags: {', '.join(tags)})" if tags else "") + " or pass --weights PATH")
        _ensure_pretrained(open_clip, arch, tag, spec)
        try:
            model = open_clip.create_model(arch, pretrained=tag, force_quick_gelu=quick)
        except Exception as e:  # hub and download errors come in many types
            raise ModelError(f"{spec}: pretrained weights unavailable ({type(e).__name__}: "
                             f"{str(e).splitlines()[0][:200]}); pass --weights PATH") from None
        weights_key = f"{arch}/{tag}"
    else:
        model = apply_weights(open_clip.create_model(arch, pretrained=None, force_quick_gelu=quick), weights, spec)
        weights_key = file_sha256(weights)[:16]
    model.eval()
    try:
        tokenizer = open_clip.get_tokenizer(arch)
    except Exception as e:  # some architectures' tokenizers live on the hub
        raise ModelError(f"{spec}: its tokenizer cannot be loaded ({type(e).__name__}: {str(e)[:200]})") from None
    classnames, templates = imagenet_prompts()
    # the text tower's activation changes the head too: a GELU-built head is another head
    head = cached_text_classifier(model, tokenizer, arch, f"{weights_key}:{'quick_gelu' if quick else 'gelu'}",
                                  classnames, templates)
    return zero_shot_module(model.visual, head).eval(), clip_preprocess(arch, tag)
