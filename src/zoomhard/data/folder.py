"""Folders: the ImageNet val layout (one wnid sub-folder per class) or images plus labels.csv."""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path
from typing import Iterator

from .. import labels as L
from .base import OUTSIDE_HINT, DataError, Item, file_locator, label_reason, not_a_file, relative_id, under

_WNID_DIR = re.compile(r"^n\d{8}$")
LABELS_FILE = "labels.csv"


def _walk(folder: Path) -> Iterator[tuple[Path, str | None]]:
    """Every non-hidden entry below `folder`, sorted, with None (read it) or why it is not read.

    Only regular files are read, a link to one included; a linked folder is never followed (it
    could loop, or reach the same images twice) and is recorded instead. Non-images are listed
    too, so that they are recorded as unusable rather than silently skipped."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as e:
        yield folder, f"cannot list the folder: {e.strerror}"
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        path = Path(entry.path)
        if entry.is_symlink():
            if path.is_dir():
                yield path, "linked folder, not followed (link its files, or copy it in)"
            else:
                yield path, not_a_file(path)
        elif entry.is_dir(follow_symlinks=False):
            yield from _walk(path)
        else:
            yield path, not_a_file(path)


class FolderSource:
    def __init__(self, root: str, labels: str | None = None, allow_outside_root: bool = False):
        self.root = Path(root).expanduser()
        self.spec = str(root)
        self.allow_outside_root = allow_outside_root
        if not self.root.exists():
            raise DataError(f"{root}: no such folder")
        if not self.root.is_dir():
            raise DataError(f"{root}: not a folder (give a folder, parquet:GLOB, hf:REPO or samples)")
        class_dirs = sorted(d for d in self.root.iterdir()
                            if _WNID_DIR.match(d.name) and d.is_dir() and not d.is_symlink())
        labels_file = Path(labels).expanduser() if labels else self.root / LABELS_FILE
        self.labels_file: Path | None = None  # the labels CSV read, if any (its content is run identity)
        if labels:
            if not labels_file.is_file():
                raise DataError(f"{labels}: no such labels file")
            self.layout = "labels-csv"
            self.labels_file = labels_file
            self._items = self._from_csv(labels_file)
            self.auto_subset = None
        elif class_dirs:
            unknown = [d.name for d in class_dirs if d.name not in L.wnid_index()]
            if unknown:
                raise DataError(f"{root}: folders {', '.join(unknown[:5])} are not ImageNet-1k wnids")
            self.layout = "wnid-folders"
            self._items = self._from_wnid_folders(class_dirs)
            # The study's rule: predictions are restricted to the classes whose folders are present.
            present = tuple(sorted(L.wnid_index()[d.name] for d in class_dirs))
            self.auto_subset = present if len(present) < len(L.wnids()) else None
        elif labels_file.is_file():
            self.layout = "labels-csv"
            self.labels_file = labels_file
            self._items = self._from_csv(labels_file)
            self.auto_subset = None
        else:
            raise DataError(f"{root}: no wnid sub-folders (n01440764/...) and no {LABELS_FILE} "
                            "(columns: image, labels) to say what the images show")

    def _from_wnid_folders(self, class_dirs: list[Path]) -> list[Item]:
        index = L.wnid_index()
        items = []
        for d in class_dirs:
            for path, reason in _walk(d):
                image_id = relative_id(path, self.root)
                if reason is None:
                    items.append(Item(image_id, (index[d.name],), d.name, file_locator(path.resolve())))
                else:
                    items.append(Item(image_id, (), d.name, "", unusable=reason))
        wnids = set(d.name for d in class_dirs)
        for other in sorted(self.root.iterdir()):  # a folder of images that names no class
            if other.name.startswith(".") or other.name in wnids or not other.is_dir():
                continue
            why = ("linked folder, not followed" if other.is_symlink()
                   else "not an ImageNet wnid folder (n01440764 ...): its files are not swept")
            items.append(Item(relative_id(other, self.root) + "/", (), "", "", unusable=why))
        return items

    def _from_csv(self, path: Path) -> list[Item]:
        # utf-8-sig: Excel's "CSV UTF-8" starts with a byte order mark
        try:
            with open(path, newline="", encoding="utf-8-sig") as f:
                rows = list(csv.DictReader(f))
        except UnicodeDecodeError as e:
            raise DataError(f"{path}: not UTF-8 text ({e})") from None
        if not rows or not {"image", "labels"} <= set(rows[0]):
            raise DataError(f"{path}: needs a header with the columns image,labels[,origin]")
        items: dict[str, Item] = {}
        lines: dict[str, int] = {}
        for n, row in enumerate(rows, start=2):
            name = row.get("image") or ""
            image_id = name.replace("\\", "/") or f"{path.name} line {n}"
            try:
                labels, reason = L.parse_labels(row.get("labels") or ""), None
            except ValueError as e:  # one bad row is recorded, the others are swept
                labels, reason = (), label_reason(f"{path.name} line {n}", "labels", e)
            file = self.root / name
            if reason is None:
                reason = self._unreadable(name, file)
            item = Item(image_id, labels, row.get("origin") or "", "" if reason else file_locator(file.resolve()),
                        unusable=reason)
            if image_id in items:
                if items[image_id] != item:
                    raise DataError(f"{path}: lines {lines[image_id]} and {n} both give {image_id!r}, with other "
                                    "labels or origin; give each image one row (labels separated by ';')")
                continue  # the same row twice: swept once
            items[image_id], lines[image_id] = item, n
        return list(items.values())

    def _unreadable(self, name: str, file: Path) -> str | None:
        """Why a labels.csv row's file is not read, or None."""
        if not name:
            return "no image named"
        if not self.allow_outside_root and (Path(name).is_absolute() or not under(file, self.root)):
            return f"outside the data folder; {OUTSIDE_HINT}"
        return not_a_file(file)

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Item]:
        return iter(self._items)

    def locator_roots(self) -> list[Path]:
        return [self.root]

    def describe(self) -> dict:
        return {"spec": self.spec, "kind": "folder", "layout": self.layout, "root": str(self.root.resolve()),
                **({"allow_outside_root": True} if self.allow_outside_root else {}), "images": len(self)}
