"""Which weights a model spec loads: a local state dict (--weights FILE), torchvision's weights
tags and the published checksums.

`torchvision:NAME.TAG` picks torchvision's weights by tag (`torchvision:resnet50.IMAGENET1K_V1`);
a bare `torchvision:NAME` loads its DEFAULT, and the tag it resolves to is recorded. torchvision
publishes each tag's file under a name ending in the first hex digits of the file's sha256
(resnet50-0676ba61.pth); a local `--weights FILE` given with a tag is checked against them. A
differing file is reported, not refused: a re-saved state dict has other bytes for equal weights.
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path

from ..runs.files import file_sha256
from ..spec import ModelSpec
from .base import ModelError

_PUBLISHED_HASH = re.compile(r"-([0-9a-f]{6,64})\.(?:pth|pt)$")


def split_torchvision(name: str) -> tuple[str, str | None]:
    """'resnet50.IMAGENET1K_V1' -> ('resnet50', 'IMAGENET1K_V1'); 'resnet50' -> ('resnet50', None)."""
    arch, _, tag = name.partition(".")
    return arch, tag or None


def torchvision_weights(arch: str, tag: str | None):
    """torchvision's weights enum member for `arch`: by tag, else DEFAULT. A tag the model does
    not have is a ModelError naming those it has."""
    import torchvision

    enum = torchvision.models.get_model_weights(arch)
    if tag is None:
        return enum.DEFAULT
    if tag not in enum.__members__:
        tags = [t for t in enum.__members__ if t != "DEFAULT"]
        close = difflib.get_close_matches(tag, tags, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ModelError(f"torchvision:{arch} has no weights {tag!r}{hint}; its tags: {', '.join(tags)}")
    return enum[tag]


def published_hash(url: str) -> str | None:
    """The sha256 prefix in a torchvision weights file name, or None where it has none."""
    m = _PUBLISHED_HASH.search(os.path.basename(url))
    return m.group(1) if m else None


def weights_tag(spec: str, weights: str | None = None) -> str | None:
    """The torchvision tag `spec` loads: its own, else DEFAULT's without a local file; None for a
    bare spec with a local file (its tag is unknown) and for other sources."""
    ms = ModelSpec.parse(spec)
    if ms.source != "torchvision" or not ms.body:
        return None
    arch, tag = ms.name, ms.tag or None
    if tag is None and weights is not None:
        return None
    try:
        return torchvision_weights(arch, tag).name
    except ValueError:  # not a torchvision classifier: the builder says so when it loads
        return None


def weights_note(record: dict | None, log) -> None:
    """Say a weights record's warning, if it has one, as a note."""
    if record and record.get("warning"):
        log(f"note: {record['warning']}")


def weights_record(spec: str, weights: str | None = None) -> dict:
    """What run.json and --json record about a model's weights: the tag, the local file and its
    sha256, torchvision's published hash prefix for the tag, and a warning when they differ."""
    record = {"tag": weights_tag(spec, weights), "file": None, "sha256": None, "published_sha256": None,
              "warning": None}
    if weights is None or not Path(weights).is_file():
        return record
    record["file"] = str(Path(weights).resolve())
    record["sha256"] = file_sha256(weights)
    ms = ModelSpec.parse(spec)
    if ms.source != "torchvision" or record["tag"] is None:
        return record
    arch = ms.name
    member = torchvision_weights(arch, record["tag"])
    expected = published_hash(member.url)
    record["published_sha256"] = expected
    if expected and not record["sha256"].startswith(expected):
        record["warning"] = (f"--weights {weights}: sha256 {record['sha256'][:len(expected)]}... is not that of "
                             f"torchvision's {arch} {record['tag']} file ({os.path.basename(member.url)}); "
                             "a re-saved state dict differs too, but these may not be the tag's weights")
    return record


def load_state_dict(path: str) -> dict:
    """A local --weights file as a state dict: a bare one, or one under 'state_dict' / 'model' /
    'model_state_dict' (training checkpoints), 'module.' prefixes (DataParallel) dropped."""
    import torch

    if not Path(path).is_file():
        raise ModelError(f"--weights {path}: no such file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for a file that is not a state dict
        raise ModelError(f"--weights {path}: not a loadable state dict ({e})") from None
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise ModelError(f"--weights {path}: expected a state dict, found {type(state).__name__}")
    return {k.removeprefix("module."): v for k, v in state.items()}


def apply_weights(module, weights: str, spec: str):
    """`module` with the --weights file loaded; a file of another architecture is one ModelError."""
    try:
        module.load_state_dict(load_state_dict(weights))
    except RuntimeError as e:
        raise ModelError(f"--weights {weights} does not fit {spec}: {state_dict_mismatch(str(e))}") from None
    return module


_SIZE = re.compile(r"size mismatch for (\S+): copying a param with shape torch\.Size\((\[.*?\])\) from checkpoint, "
                   r"the shape in current model is torch\.Size\((\[.*?\])\)")
_KEYS = re.compile(r"(Missing|Unexpected) key\(s\) in state_dict: (.*)")


def state_dict_mismatch(message: str, shown: int = 4) -> str:
    """torch's load_state_dict error in one line: what differs, parameter by parameter
    ('size mismatch for fc.weight: the file's [10, 2048], the model's [1000, 2048]'), key lists
    cut to their first few."""
    lines = [line.strip() for line in message.strip().splitlines()]
    parts = []
    for line in lines[1:]:
        if m := _SIZE.match(line):
            parts.append(f"size mismatch for {m[1]}: the file's {m[2]}, the model's {m[3]}")
        elif m := _KEYS.match(line):
            keys = re.findall(r'"([^"]+)"', m[2])
            more = f" and {len(keys) - shown} more" if len(keys) > shown else ""
            parts.append(f"{len(keys)} {m[1].lower()} key(s): {', '.join(keys[:shown])}{more}")
        elif line:
            parts.append(line)
    if len(parts) > 2 * shown:
        parts = parts[:2 * shown] + [f"and {len(parts) - 2 * shown} more"]
    first = lines[0].rstrip(":") if lines else message
    return f"{first}: " + "; ".join(parts) if parts else first
