"""A Hugging Face dataset in the ImageNet-Hard layout: hf:REPO[@REVISION][:SPLIT].

Without a revision, the default branch's commit at load time is used and recorded, so a run
or a benchmark names the exact files it read."""

from __future__ import annotations

from typing import Iterator

from ..net import OfflineError, require_network
from .base import DataError, Item
from .parquet import _labels

DEFAULT_SPLIT = "validation"


class HubSource:
    auto_subset = None

    def __init__(self, ref: str):
        repo, _, split = ref.partition(":")
        repo, _, revision = repo.partition("@")
        self.repo, self.revision, self.split = repo, revision or None, split or DEFAULT_SPLIT
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
            yield Item(image_id, _labels(row.get("label")), row.get("origin") or "",
                       f"hf:{self.repo}@{self.revision}:{self.split}#{i}", payload=image["bytes"])

    def describe(self) -> dict:
        return {"spec": self.spec, "kind": "hf", "repo": self.repo, "revision": self.revision,
                "split": self.split, "images": len(self)}
