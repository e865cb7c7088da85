"""A Hugging Face dataset in the ImageNet-Hard layout: hf:REPO[@REVISION][:SPLIT].

REPO is a hub id or a local folder: one written by `save_to_disk` (a Dataset or a DatasetDict,
read with `load_from_disk`), or data files `load_dataset` reads (a curated set, a hub
repository's clone).

Without a revision, taesiri/imagenet-hard and taesiri/imagenet-hard-4K load the revision the
paper's figures belong to (10,980 images; zoomhard.paper.STUDY_REVISIONS, from the dataset
cards' history), other repositories the default branch's commit at load time, and a local
folder is named by its fingerprint; either is recorded, so a run or a benchmark names the
exact files it read, and each image's locator `hf:REPO@REVISION:SPLIT#ROW` reads it back from
them."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from ..net import OfflineError, require_network
from .base import DataError, Item
from .locator import Locator, Recent, register
from ..paper import STUDY_REVISIONS
from .parquet import labels_or_reason

DEFAULT_SPLIT = "validation"


def parse_ref(ref: str) -> tuple[str, str | None, str]:
    """'taesiri/imagenet-hard@abc:validation' -> (repo, revision, split); the paper's revision
    for the study's repositories when none is given. A local folder's name may hold '@' or
    ':' itself: the separators are taken from the right."""
    if Path(ref).expanduser().exists():
        return ref, None, DEFAULT_SPLIT
    repo, colon, split = ref.rpartition(":")
    if not colon:
        repo, split = ref, ""
    if Path(repo).expanduser().exists():
        return repo, None, split or DEFAULT_SPLIT
    repo, at, revision = repo.rpartition("@")
    if not at:
        repo, revision = revision, ""
    return repo, revision or STUDY_REVISIONS.get(repo.lower()), split or DEFAULT_SPLIT


def _datasets():
    try:
        import datasets
    except ImportError:
        raise DataError("hf: data needs Hugging Face datasets: pip install 'zoomhard[hf]'") from None
    return datasets


def _load_local(folder: Path, split: str):
    """The split of a local dataset folder, as Hugging Face datasets reads it."""
    datasets = _datasets()
    try:
        if (folder / "dataset_dict.json").is_file() or (folder / "state.json").is_file():
            ds = datasets.load_from_disk(str(folder))
            if isinstance(ds, datasets.DatasetDict):
                if split not in ds:
                    raise DataError(f"hf:{folder}: no split {split!r}; it has {', '.join(ds)}")
                ds = ds[split]
            return ds  # one saved Dataset: the split is what the spec calls it
        return datasets.load_dataset(str(folder), split=split)
    except (OSError, ValueError, KeyError) as e:  # datasets' own errors derive from these
        raise DataError(f"hf:{folder}: not a dataset Hugging Face datasets can read "
                        f"({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None


def load_split(repo: str, revision: str | None, split: str) -> tuple[str, str, object]:
    """(repo, revision, dataset) of `hf:REPO[@REVISION]:SPLIT`, images left encoded: a local
    folder as its absolute path and fingerprint, a hub id at its commit."""
    datasets = _datasets()
    local = Path(repo).expanduser()
    if local.exists():
        ds = _load_local(local, split)
        # A saved dataset's fingerprint changes with its content: it stands for a commit.
        fingerprint = ds._fingerprint
        if revision is not None and revision != fingerprint:
            raise DataError(f"hf:{repo}: the dataset there is at {fingerprint}, not {revision} "
                            "(it changed since it was swept; sweep it again)")
        repo, revision = str(local.resolve()), fingerprint
    else:
        try:
            require_network("huggingface.co", f"hf:{repo}",
                            "download it where there is a network and use parquet:PATH_OR_GLOB")
        except OfflineError as e:
            raise DataError(str(e)) from None
        if revision is None:
            # Pin what the default branch is now: the run and the bench JSON record this commit,
            # and `hf:REPO@COMMIT` loads exactly these files again later.
            from huggingface_hub import HfApi

            revision = HfApi().dataset_info(repo).sha
        ds = datasets.load_dataset(repo, split=split, revision=revision)
    try:
        return repo, revision, ds.cast_column("image", datasets.Image(decode=False))
    except (KeyError, ValueError) as e:
        raise DataError(f"hf:{repo}: no image column in the ImageNet-Hard layout ({e})") from None


def _image_bytes(image: dict | None) -> bytes | None:
    return image.get("bytes") if image else None


class HubSource:
    auto_subset = None

    def __init__(self, ref: str):
        repo, revision, self.split = parse_ref(ref)
        self.repo, self.revision, self._ds = load_split(repo, revision, self.split)
        self.spec = f"hf:{self.repo}@{self.revision}:{self.split}"

    def __len__(self) -> int:
        return len(self._ds)

    def __iter__(self) -> Iterator[Item]:
        for i, row in enumerate(self._ds):
            image = row["image"] or {}
            image_id = image.get("path") or str(i)
            labels, reason = labels_or_reason(row.get("label"), f"row {i}")
            yield Item(image_id, labels, str(row.get("origin") or ""),
                       str(Locator("hf", (self.repo, self.revision, self.split, str(i)))),
                       payload=_image_bytes(image), unusable=reason)

    def describe(self) -> dict:
        return {"spec": self.spec, "kind": "hf", "repo": self.repo, "revision": self.revision,
                "split": self.split, "images": len(self)}


def _open_row(loc: Locator, recent: Recent) -> str | bytes:
    """Row ROW of the dataset, loaded as the source loaded it (once per reader; a dataset that
    cannot be loaded is not asked for again, so a report without it does not wait per image)."""
    repo, revision, split, row = loc.parts
    if not (row.isascii() and row.isdigit()):
        raise DataError(f"row {row!r} is not a row number")
    ds = recent.get((repo, revision, split), lambda: _split_or_error(repo, revision, split))
    if isinstance(ds, DataError):
        raise ds
    if int(row) >= len(ds):
        raise DataError(f"row out of range (the split has {len(ds)})")
    image = ds[int(row)]["image"] or {}
    if _image_bytes(image) is not None:
        return _image_bytes(image)
    if image.get("path") and Path(image["path"]).is_file():  # a dataset of file paths
        return image["path"]
    raise DataError("the row holds no image")


def _split_or_error(repo: str, revision: str, split: str):
    try:
        return load_split(repo, revision, split)[2]
    except DataError as e:
        return e
    except (OSError, ValueError) as e:  # the hub's own errors (missing repo or revision, a dropped link)
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        return DataError(f"hf:{repo}@{revision}: cannot be loaded ({first})")


register("hf", "@:#", _open_row)
