"""The study's dataset columns (its Table 1 and Figure 2) and the one a run matches."""

from __future__ import annotations

from .. import labels as L
from ..analysis import Analysis
from ..protocols import GROUPED_OBJECTNET
from ..runs.store import RunStore

# The study's dataset columns, and the class subset that marks a run as one of them.
PAPER_DATASETS = ("IN", "ReaL", "IN+ReaL", "IN-A", "IN-R", "IN-S", "ON")
# objectnet-groups (each ObjectNet class scored by the max over its ImageNet classes) is not the
# study's scoring of ObjectNet (its 113 representatives, `objectnet`): no column.
_SUBSET_DATASET = {"imagenet-a": "IN-A", "imagenet-r": "IN-R", "objectnet": "ON"}
# a folder run under `auto` matches a column when every class its images are labelled with is
# one of that benchmark's (ObjectNet: its 113 representatives, the study's class space)
_FOLDER_DATASETS = ("imagenet-a", "imagenet-r", "objectnet")
_REAL_DATASET = {"real": "ReaL", "original+real": "IN+ReaL"}


def paper_dataset(config: dict | Analysis, path: str | None = None) -> str | None:
    """The study's dataset column a run matches (`config` its run.json or its Analysis): by its
    class subset (a folder run under `auto` by the classes its images' labels fall in), its ReaL
    mode, or a sketch data name; else IN. None for ObjectNet scored otherwise than the study
    did (objectnet-groups, or a folder of ObjectNet's classes beyond its 113 representatives)."""
    if isinstance(config, Analysis):
        config = {"subset": config.subset, "data": config.data}
    subset = (config.get("subset") or {}).get("name")
    if subset in _SUBSET_DATASET:
        return _SUBSET_DATASET[subset]
    if subset == GROUPED_OBJECTNET:
        return None
    data = config.get("data") or {}
    if subset == "folders-present" and path is not None:
        present = {i for labels in RunStore(path).images().column("labels").to_pylist() for i in labels}
        for name in _FOLDER_DATASETS:
            if present and present <= set(L.subset_indices(name)):
                return _SUBSET_DATASET[name]
        if present and present <= {i for g in L.objectnet_to_imagenet().values() for i in g}:
            return None
    if data.get("real_mode") in _REAL_DATASET:
        return _REAL_DATASET[data["real_mode"]]
    if "sketch" in str(data.get("spec", "")).lower():
        return "IN-S"
    return "IN"
