"""ImageNet-1k classes, the study's class subsets and label parsing.

Class order is the sorted wnid order every torchvision and timm classifier uses. wnids ship with
this package (resources/); class names are read from timm's own ImageNet info files, found
without importing timm (and so torch), so that analyses and reports start fast.
"""

from __future__ import annotations

import difflib
import importlib.util
import json
import re
from functools import lru_cache
from importlib import resources
from pathlib import Path

from .errors import LabelError, UsageError

SUBSETS = ("imagenet-a", "imagenet-r", "objectnet")
_SUBSET_KEYS = {"imagenet-a": "imagenet_a_200", "imagenet-r": "imagenet_r_200", "objectnet": "objectnet_113"}
_WNID = re.compile(r"^n\d{8}$")


def _resource(name: str) -> dict:
    return json.loads(resources.files("zoomhard.resources").joinpath(name).read_text())


@lru_cache(maxsize=None)
def wnids() -> tuple[str, ...]:
    return tuple(_resource("imagenet1k_wnids.json")["wnids"])


@lru_cache(maxsize=None)
def wnid_index() -> dict[str, int]:
    return {w: i for i, w in enumerate(wnids())}


@lru_cache(maxsize=None)
def class_names() -> tuple[str, ...]:
    """Human-readable names ('tabby, tabby cat'), from timm's synset-to-lemma table."""
    spec = importlib.util.find_spec("timm")
    lemmas: dict[str, str] = {}
    if spec and spec.origin:
        path = Path(spec.origin).parent / "data" / "_info" / "imagenet_synset_to_lemma.txt"
        if path.exists():
            for line in path.read_text().splitlines():
                wnid, _, lemma = line.partition("\t")
                lemmas[wnid] = lemma.strip()
    return tuple(lemmas.get(w, w) for w in wnids())


def short_name(index: int) -> str:
    """The first lemma of a class: 'tabby' for 'tabby, tabby cat'."""
    return class_names()[index].split(",")[0]


def parse_label(token: str) -> int:
    """An ImageNet-1k class given as a wnid ('n02123045') or an index ('281')."""
    token = token.strip()
    if _WNID.match(token):
        try:
            return wnid_index()[token]
        except KeyError:
            raise LabelError(f"{token} is not an ImageNet-1k wnid") from None
    try:
        index = int(token)
    except ValueError:
        raise LabelError(f"not a class: {token!r} (give a wnid like n02123045 or an index 0-999)") from None
    if not 0 <= index < 1000:
        raise LabelError(f"class index {index} is outside 0-999")
    return index


def parse_labels(text: str) -> tuple[int, ...]:
    """A labels.csv cell: acceptable labels separated by ';', each an index, a wnid or a class
    name ('281;n02123159;tiger cat;Granny Smith'), as sorted unique class indices. A part made of
    indices and wnids only, separated by spaces or '|' ('281 282'), is read as several labels, as
    files written before names were accepted give them."""
    found: set[int] = set()
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        tokens = [t for t in re.split(r"[\s|]+", part) if t]
        if len(tokens) > 1 and all(_WNID.match(t) or t.isdigit() for t in tokens):
            found.update(parse_label(t) for t in tokens)
        else:
            found.add(resolve_class(part))
    return tuple(sorted(found))


@lru_cache(maxsize=None)
def subset_indices(name: str) -> tuple[int, ...]:
    """ImageNet-1k indices of a named subset ('imagenet-a', 'imagenet-r': 200; 'objectnet': 113)."""
    if name not in _SUBSET_KEYS:
        raise UsageError(f"unknown subset {name!r}; choose one of: {', '.join(SUBSETS)}")
    index = wnid_index()
    return tuple(sorted(index[w] for w in _resource("subset_wnids.json")[_SUBSET_KEYS[name]]))


@lru_cache(maxsize=None)
def objectnet_to_imagenet() -> dict[str, tuple[int, ...]]:
    """ObjectNet class name -> the ImageNet-1k indices it covers (the study's 113-class mapping)."""
    names = {full: i for i, full in enumerate(class_names())}
    out = {}
    for obj, targets in _resource("objectnet_to_imagenet_1k.json").items():
        out[obj] = tuple(sorted(names[t.strip()] for t in targets.split(";")))
    return out


@lru_cache(maxsize=None)
def _names_to_classes() -> tuple[dict[str, tuple[int, ...]], dict[str, tuple[int, ...]]]:
    """(full name -> classes, any lemma -> classes), lower-case: 'tabby, tabby cat' and 'tabby'."""
    full: dict[str, list[int]] = {}
    lemma: dict[str, list[int]] = {}
    for i, name in enumerate(class_names()):
        full.setdefault(name.lower(), []).append(i)
        for part in name.split(","):
            lemma.setdefault(part.strip().lower(), []).append(i)
    return ({k: tuple(v) for k, v in full.items()}, {k: tuple(dict.fromkeys(v)) for k, v in lemma.items()})


def resolve_class(label: int | str) -> int:
    """An ImageNet-1k class from an index (281 or '281'), a wnid ('n02123045') or a class name
    ('tabby', 'tiger cat', 'tabby, tabby cat'; any of a class's names, case-insensitive). A name
    shared by two classes ('crane') must be given as a wnid or index."""
    if isinstance(label, bool) or not isinstance(label, (int, str)) and not hasattr(label, "__index__"):
        raise LabelError(f"not a class: {label!r} (give an ImageNet-1k index, a wnid or a class name)")
    if not isinstance(label, str):
        label = str(int(label))
    token = label.strip()
    if _WNID.match(token) or token.lstrip("-").isdigit():
        try:
            return parse_label(token)
        except ValueError as e:
            raise LabelError(str(e)) from None
    full, lemma = _names_to_classes()
    key = " ".join(token.lower().split())
    found = full.get(key) or lemma.get(key)
    if not found:
        close = difflib.get_close_matches(key, list(lemma), n=3)
        hint = f"; close: {', '.join(close)}" if close else ""
        raise LabelError(f"{token!r} is not an ImageNet-1k class name{hint} (give a name, a wnid or an index 0-999)")
    if len(found) > 1:
        choices = ", ".join(f"{wnids()[i]} ({class_names()[i]})" for i in found)
        raise LabelError(f"{token!r} names {len(found)} classes: {choices}; give the wnid or index")
    return found[0]


def resolve_classes(labels) -> tuple[int, ...]:
    """One label or a list of them (indices, wnids, names), as sorted unique class indices."""
    if isinstance(labels, (str, int)) or hasattr(labels, "__index__"):
        labels = [labels]
    try:
        items = list(labels)
    except TypeError:
        raise LabelError(f"not a label or a list of labels: {labels!r}") from None
    return tuple(sorted({resolve_class(x) for x in items}))
