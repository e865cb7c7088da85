"""Benchmark protocols: which classes a prediction may take, and which labels count as right.

Class spaces (`--subset`):
    none          argmax over all 1,000 ImageNet classes (ImageNet-Hard: right when that top-1
                  is in the image's label list)
    imagenet-a/r  argmax over the benchmark's 200 classes only
    objectnet     the study's: argmax over 113 ImageNet classes, one representative per mapped
                  ObjectNet class (the authors' `objectnet_mask`); top-1 is that class's index
    objectnet-groups  the 113 ObjectNet classes; each scores the max of the logits of the ImageNet
                  classes it maps to (125 in all, no class in two groups), and the prediction is
                  reported as the best ImageNet class of the best ObjectNet class
    auto          the folders present for a folder of wnid sub-folders (the study's rule), else none

Label sets (`--real-labels FILE`): the ReaL relabelling of the ImageNet validation set (timm
ships it as timm/data/_info/imagenet_real_labels.json: a list of 50,000 label lists in val
order, entry i for ILSVRC2012_val_{i+1:08d}.JPEG). Mode `real` scores each image against its
ReaL labels alone and skips the images ReaL left without a label (the ReaL protocol); mode
`original+real` (the study's) accepts the original label or any ReaL label.

ObjectNet on disk: the release keeps images in `images/<folder>/...` with folder names such as
`alarm_clock`. `objectnet_labels_csv` writes the labels.csv a plain folder needs (image, labels,
origin), with the ImageNet classes of each of the 113 mapped ObjectNet classes as the image's
label list (it holds the class's representative too, so either ObjectNet space scores it);
images of the other 200 ObjectNet classes are left out, as the study did.
"""

from __future__ import annotations

import csv
import itertools
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import numpy as np

from . import labels as L
from .data import DataError, Item, Source
from .errors import UsageError
from .runs.files import read_json

GROUPED_OBJECTNET = "objectnet-groups"
SUBSET_CHOICES = ("auto", "none") + L.SUBSETS + (GROUPED_OBJECTNET,)
REAL_MODES = ("original+real", "real")
_VAL_NAME = re.compile(r"ILSVRC2012_val_(\d{8})\.JPEG$", re.IGNORECASE)


@dataclass(frozen=True)
class ClassSpace:
    """The classes a prediction may take: `allowed` masks the 1,000 logits, `groups` (ObjectNet)
    gathers them into scored groups."""

    name: str
    allowed: np.ndarray | None = None
    groups: tuple[tuple[int, ...], ...] | None = None
    group_names: tuple[str, ...] | None = None
    outputs: int = 1000  # the model's logits

    @property
    def classes(self) -> int:
        """How many classes a prediction chooses from."""
        if self.groups is not None:
            return len(self.groups)
        return int(self.allowed.sum()) if self.allowed is not None else self.outputs

    @property
    def members(self) -> np.ndarray:
        """(classes, width) the ImageNet indices behind each class a prediction chooses from: one
        per row for all or a subset of the classes, an ObjectNet group's members padded with its
        first (a repeat changes no maximum)."""
        if self.groups is not None:
            return group_members(self.groups)
        idx = np.flatnonzero(self.allowed) if self.allowed is not None else np.arange(self.outputs)
        return idx[:, None]


def _mask(indices, size: int = 1000) -> np.ndarray:
    m = np.zeros(size, dtype=bool)
    m[list(indices)] = True
    return m


def objectnet_space() -> ClassSpace:
    mapping = L.objectnet_to_imagenet()
    names = tuple(sorted(mapping))
    groups = tuple(mapping[n] for n in names)
    return ClassSpace(GROUPED_OBJECTNET, _mask([i for g in groups for i in g]), groups, names)


def resolve_subset(name: str, source: Source | None = None) -> tuple[str, tuple[int, ...] | None]:
    """(the subset's recorded name, its ImageNet-1k indices or None for all classes). auto: the
    class folders a source holds (the study's rule), else all."""
    if name not in SUBSET_CHOICES:
        raise UsageError(f"unknown subset {name!r}; choose one of: {', '.join(SUBSET_CHOICES)}")
    if name == "none":
        return "none", None
    if name == "auto":
        subset = getattr(source, "auto_subset", None)
        return ("folders-present", subset) if subset else ("none", None)
    if name == GROUPED_OBJECTNET:
        return name, tuple(sorted(i for g in L.objectnet_to_imagenet().values() for i in g))
    return name, L.subset_indices(name)


def class_space(name: str, source: Source | None = None, outputs: int = 1000) -> ClassSpace:
    """The classes predictions choose from under --subset `name`, for a model with `outputs`
    logits. objectnet-groups scores 113 groups of ImageNet classes."""
    name, subset = resolve_subset(name, source)
    if name == GROUPED_OBJECTNET:
        return objectnet_space()
    return ClassSpace(name, None if subset is None else _mask(subset, outputs), outputs=outputs)


def masked_softmax(logits: np.ndarray, allowed: np.ndarray | None, dtype=np.float32) -> np.ndarray:
    """Softmax over the allowed classes only (the others get probability 0)."""
    z = logits.astype(dtype, copy=True)
    if allowed is not None:
        z[:, ~allowed] = -np.inf
    z -= z.max(axis=1, keepdims=True)
    prob = np.exp(z)
    prob /= prob.sum(axis=1, keepdims=True)
    return prob


def score(logits: np.ndarray, labels: tuple[int, ...], allowed: np.ndarray | None,
          groups: tuple[tuple[int, ...], ...] | None = None) -> dict:
    """Top-1/top-5 (within `allowed` classes), correctness and the best label's probability.

    `groups` (ObjectNet) scores each group of ImageNet classes by its best member's logit and
    ranks groups, not classes; each ranked group is reported as that best member."""
    if groups is not None:
        return score_groups(logits, labels, groups)
    prob = masked_softmax(logits, allowed)
    k = min(5, prob.shape[1])
    top5 = np.argpartition(-prob, k - 1, axis=1)[:, :k]
    order = np.take_along_axis(prob, top5, axis=1).argsort(axis=1)[:, ::-1]
    top5 = np.take_along_axis(top5, order, axis=1)
    top1 = top5[:, 0]
    lab = np.asarray(labels, dtype=np.int64)
    return {
        "top1": top1,
        "correct": np.isin(top1, lab),
        "top5": top5,
        "top5_prob": np.take_along_axis(prob, top5, axis=1),
        "label_prob": prob[:, lab].max(axis=1) if len(lab) else np.zeros(len(prob), np.float32),
    }


@lru_cache(maxsize=8)
def group_members(groups: tuple[tuple[int, ...], ...]) -> np.ndarray:
    width = max(map(len, groups))
    return np.array([g + (g[0],) * (width - len(g)) for g in groups], dtype=np.int64)


def choice_logits(logits: np.ndarray, members: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, outputs) logits -> (n, classes) each class's logit, its best member's (ClassSpace.members),
    and (n, classes) the ImageNet index of that member."""
    gathered = logits[:, members]                       # (n, classes, width)
    best = gathered.argmax(axis=2)
    return (np.take_along_axis(gathered, best[..., None], axis=2)[..., 0],
            members[np.arange(len(members)), best])


def score_groups(logits: np.ndarray, labels: tuple[int, ...], groups: tuple[tuple[int, ...], ...]) -> dict:
    """score for grouped classes: softmax and top-5 over groups, each reported as its best
    ImageNet class; correct when that class is one of the labels."""
    best, arg = choice_logits(logits.astype(np.float32, copy=False), group_members(groups))
    prob = masked_softmax(best, None)
    k = min(5, prob.shape[1])
    order = np.argsort(-prob, axis=1, kind="stable")[:, :k]
    top5 = np.take_along_axis(arg, order, axis=1)
    label_set = set(labels)
    label_groups = [g for g, members in enumerate(groups) if label_set & set(members)]
    return {
        "top1": top5[:, 0],
        "correct": np.isin(top5[:, 0], np.asarray(labels, dtype=np.int64)),
        "top5": top5,
        "top5_prob": np.take_along_axis(prob, order, axis=1),
        "label_prob": prob[:, label_groups].max(axis=1) if label_groups else np.zeros(len(prob), np.float32),
    }


# -- ReaL labels ------------------------------------------------------------------------------

def load_real_labels(path: str) -> list[tuple[int, ...]]:
    data = read_json(path, "ReaL labels file")
    if not isinstance(data, list) or not all(isinstance(x, list) for x in data):
        raise DataError(f"{path}: expected a JSON list of label lists in ImageNet val order (ReaL format)")
    return [tuple(sorted({int(i) for i in x})) for x in data]


def val_index(image_id: str) -> int | None:
    """0-based position of ILSVRC2012_val_XXXXXXXX.JPEG in the val set, from any path to it."""
    m = _VAL_NAME.search(image_id)
    return int(m.group(1)) - 1 if m else None


def relabel(original: tuple[int, ...], real: tuple[int, ...], mode: str) -> tuple[int, ...]:
    if mode == "real":
        return real
    if mode == "original+real":
        return tuple(sorted(set(original) | set(real)))
    raise UsageError(f"unknown ReaL mode {mode!r}; choose one of: {', '.join(REAL_MODES)}")


class RelabelledSource:
    """A source whose ImageNet val images take their labels from a ReaL file."""

    def __init__(self, source: Source, path: str, mode: str = "original+real"):
        if mode not in REAL_MODES:
            raise UsageError(f"unknown ReaL mode {mode!r}; choose one of: {', '.join(REAL_MODES)}")
        self.inner, self.path, self.mode = source, str(path), mode
        self.real = load_real_labels(path)
        self.spec = source.spec
        self.auto_subset = source.auto_subset
        head = itertools.islice(source, 1000)  # enough to catch a wrong file without reading a whole dataset
        if not any((i := val_index(it.image_id)) is not None and i < len(self.real) for it in head):
            raise DataError(f"--real-labels {path}: no image (of the first 1000) is named "
                            "ILSVRC2012_val_XXXXXXXX.JPEG, so none can be matched to its ReaL labels")

    def __len__(self) -> int:
        return len(self.inner)

    def __iter__(self) -> Iterator[Item]:
        for it in self.inner:
            i = val_index(it.image_id)
            if i is None or i >= len(self.real):
                yield it
                continue
            yield Item(it.image_id, relabel(it.labels, self.real[i], self.mode), it.origin, it.locator, it.payload,
                       it.unusable)

    def describe(self) -> dict:
        return {**self.inner.describe(), "real_labels": str(Path(self.path).resolve()), "real_mode": self.mode}


# -- ObjectNet folders ------------------------------------------------------------------------

def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower().replace("'", "")).strip("_")


def objectnet_labels_csv(images: str, out: str) -> dict:
    """Write labels.csv (image, labels, origin) for an ObjectNet `images/` folder. Folder names
    are matched to the mapping's class names through the release's
    mappings/folder_to_objectnet_label.json when it sits next to `images/`, else by name
    ('alarm_clock' ~ 'Alarm clock')."""
    root = Path(images).expanduser()
    if not root.is_dir():
        raise DataError(f"{images}: no such folder")
    mapping = L.objectnet_to_imagenet()
    by_key = {_key(n): n for n in mapping}
    folder_map = root.parent / "mappings" / "folder_to_objectnet_label.json"
    names = json.loads(folder_map.read_text()) if folder_map.is_file() else {}
    rows, used, skipped = [], set(), 0
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        cls = names.get(d.name) or d.name
        target = mapping.get(cls) and cls or by_key.get(_key(cls))
        files = sorted(p for p in d.rglob("*") if p.is_file() and not p.name.startswith("."))
        if target is None:
            skipped += len(files)
            continue
        used.add(target)
        labels = ";".join(L.wnids()[i] for i in mapping[target])
        rows += [(p.relative_to(root).as_posix(), labels, "objectnet") for p in files]
    if not rows:
        raise DataError(f"{images}: no folder matches one of the 113 ObjectNet classes mapped to ImageNet")
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "labels", "origin"])
        w.writerows(rows)
    return {"images": len(rows), "classes": len(used), "skipped_images": skipped, "labels": str(out)}
