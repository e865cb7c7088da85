"""Folders: the ImageNet val layout (one wnid sub-folder per class) or images plus labels.csv."""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Iterator

from .. import labels as L
from .base import DataError, Item, relative_id

_WNID_DIR = re.compile(r"^n\d{8}$")
LABELS_FILE = "labels.csv"


def _files(folder: Path) -> list[Path]:
    """Every regular, non-hidden file below `folder`, sorted: non-images too, so that they are
    recorded as unusable rather than silently skipped."""
    return sorted(p for p in folder.rglob("*")
                  if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts))


class FolderSource:
    def __init__(self, root: str, labels: str | None = None):
        self.root = Path(root).expanduser()
        self.spec = str(root)
        if not self.root.exists():
            raise DataError(f"{root}: no such folder")
        if not self.root.is_dir():
            raise DataError(f"{root}: not a folder (give a folder, parquet:GLOB, hf:REPO or samples)")
        class_dirs = sorted(d for d in self.root.iterdir() if d.is_dir() and _WNID_DIR.match(d.name))
        labels_file = Path(labels).expanduser() if labels else self.root / LABELS_FILE
        if labels:
            if not labels_file.is_file():
                raise DataError(f"{labels}: no such labels file")
            self.layout = "labels-csv"
            self._items = self._from_csv(labels_file)
            self.auto_subset = None
        elif class_dirs:
            unknown = [d.name for d in class_dirs if d.name not in L.wnid_index()]
            if unknown:
                raise DataError(f"{root}: folders {', '.join(unknown[:5])} are not ImageNet-1k wnids")
            self.layout = "wnid-folders"
            self._items = [Item(relative_id(p, self.root), (L.wnid_index()[d.name],), d.name, f"file:{p.resolve()}")
                           for d in class_dirs for p in _files(d)]
            # The study's rule: predictions are restricted to the classes whose folders are present.
            present = tuple(sorted(L.wnid_index()[d.name] for d in class_dirs))
            self.auto_subset = present if len(present) < len(L.wnids()) else None
        elif labels_file.is_file():
            self.layout = "labels-csv"
            self._items = self._from_csv(labels_file)
            self.auto_subset = None
        else:
            raise DataError(f"{root}: no wnid sub-folders (n01440764/...) and no {LABELS_FILE} "
                            "(columns: image, labels) to say what the images show")

    def _from_csv(self, path: Path) -> list[Item]:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        if not rows or not {"image", "labels"} <= set(rows[0]):
            raise DataError(f"{path}: needs a header with the columns image,labels[,origin]")
        items = []
        for n, row in enumerate(rows, start=2):
            try:
                labels = L.parse_labels(row["labels"] or "")
            except ValueError as e:
                raise DataError(f"{path}, line {n}: {e}") from None
            file = (self.root / row["image"]).resolve()
            items.append(Item(row["image"].replace("\\", "/"), labels, row.get("origin") or "", f"file:{file}"))
        return items

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Item]:
        return iter(self._items)

    def describe(self) -> dict:
        return {"spec": self.spec, "kind": "folder", "layout": self.layout,
                "root": str(self.root.resolve()), "images": len(self)}
