"""A Hugging Face dataset in the ImageNet-Hard layout: hf:REPO[@REVISION][:SPLIT].

Without a revision, taesiri/imagenet-hard and taesiri/imagenet-hard-4K load the revision the
paper's figures belong to (10,980 images; STUDY_REVISIONS: the dataset cards' history), other
repositories the default branch's commit at load time; either is recorded, so a run or a
benchmark names the exact files it read."""

from __future__ import annotations

from typing import Iterator

from ..net import OfflineError, require_network
from .base import DataError, Item
from .parquet import labels_or_reason

DEFAULT_SPLIT = "validation"
STUDY_IMAGES = 10_980
# The commits whose dataset card lists the paper's 10,980 validation images: the default
# branches have changed since (13,925 rows in March 2023, fewer later).
STUDY_REVISIONS = {
    "taesiri/imagenet-hard": "e292574214aa16ede29857c613a50a12f60b8eb1",
    "taesiri/imagenet-hard-4k": "42a6d8d2fa33f5df0aa26f70e38040f4341f4f80",
}


def parse_ref(ref: str) -> tuple[str, str | None, str]:
    """'taesiri/imagenet-hard@abc:validation' -> (repo, revision, split); the paper's revision
    for the study's repositories when none is given."""
    repo, _, split = ref.partition(":")
    repo, _, revision = repo.partition("@")
    return repo, revision or STUDY_REVISIONS.get(repo.lower()), split or DEFAULT_SPLIT


def is_study_revision(repo: str, revision: str | None) -> bool:
    return revision is not None and STUDY_REVISIONS.get(repo.lower()) == revision


class HubSource:
    auto_subset = None

    def __init__(self, ref: str):
        repo, self.revision, self.split = parse_ref(ref)
        self.repo = repo
        try:
            import datasets
        except ImportError:
            raise DataError("hf: data needs Hugging Face datasets: pip install 'zoomhard[hf]'") from None
        try:
            require_network("huggingface.co", f"hf:{repo}",
                            "download it where there is a network and use parquet:PATH_OR_GLOB")
        except OfflineError as e:
            raise DataError(str(e)) from None
        if self.revision is None:
            # Pin what the default branch is now: the run and the bench JSON record this commit,
            # and `hf:REPO@COMMIT` loads exactly these files again later.
            from huggingface_hub import HfApi

            self.revision = HfApi().dataset_info(repo).sha
        self.spec = f"hf:{repo}@{self.revision}:{self.split}"
        ds = datasets.load_dataset(repo, split=self.split, revision=self.revision)
        self._ds = ds.cast_column("image", datasets.Image(decode=False))

    def __len__(self) -> int:
        return len(self._ds)

    def __iter__(self) -> Iterator[Item]:
        for i, row in enumerate(self._ds):
            image = row["image"]
            image_id = image.get("path") or str(i)
            labels, reason = labels_or_reason(row.get("label"), f"row {i}")
            yield Item(image_id, labels, str(row.get("origin") or ""),
                       f"hf:{self.repo}@{self.revision}:{self.split}#{i}", payload=image["bytes"], unusable=reason)

    def describe(self) -> dict:
        return {"spec": self.spec, "kind": "hf", "repo": self.repo, "revision": self.revision,
                "split": self.split, "images": len(self)}
