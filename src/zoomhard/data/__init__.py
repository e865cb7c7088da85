"""Image sources, chosen by a data SPEC parsed in one place (`open_source`).

    samples                 the bundled photos (scikit-image, matplotlib) with their labels
    samples-offcentre       the same photos, each at a corner of a grey canvas twice its size
    PATH                    a folder of wnid sub-folders (ImageNet val layout), or of images
                            with a labels.csv (columns: image, labels[, origin])
    parquet:PATH_OR_GLOB    the ImageNet-Hard layout (image{bytes,path}, label, origin, ...)
    hf:REPO[@REVISION][:SPLIT]   a Hugging Face dataset in that layout: a hub id (needs a
                            network) or a local folder (save_to_disk, or data files)

Every source yields `Item`s: an image id, the acceptable ImageNet-1k labels, an origin and a
locator (data.locator) that reads the image again later (for galleries and curation): each
source module registers a reader for the locator scheme it writes, and `read_locator` reads
any of them.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path

from .base import Item, Source
from ..errors import DataError
from ..spec import DataSpec
from .locator import Locator, LocatorReader, open_locator, read_locator
from .folder import FolderSource
from .hub import HubSource
from .parquet import ParquetSource
from .samples import OFFCENTRE_SPEC, OffcentreSamplesSource, SamplesSource

BUILTIN_SPECS = ["samples", OFFCENTRE_SPEC]
DATA_KINDS = ("samples", OFFCENTRE_SPEC, "PATH (folder)", "parquet:PATH_OR_GLOB", "hf:REPO[@REVISION][:SPLIT]")


def open_source(spec: str, labels: str | None = None, allow_outside_root: bool = False) -> Source:
    """The source named by `spec`; `labels` is a labels CSV for a plain folder of images.
    Only files inside the data folder (a parquet's own folder) are read unless
    `allow_outside_root`; the others are recorded as unusable."""
    if spec == "samples":
        return SamplesSource()
    if spec == OFFCENTRE_SPEC:
        return OffcentreSamplesSource()
    ds = DataSpec.parse(spec)
    if ds.source == "parquet":
        return ParquetSource(ds.rest, allow_outside_root)
    if ds.source == "hf":
        return HubSource(ds.rest)
    if re.fullmatch(r"[a-z][a-z0-9_+.-]+", ds.source) and not Path(spec).exists():
        raise DataError(f"unknown data source {ds.source!r}; valid data specs: {', '.join(DATA_KINDS)}")
    if not Path(spec).expanduser().exists():
        close = difflib.get_close_matches(spec, BUILTIN_SPECS, n=1, cutoff=0.6)
        if close:
            raise DataError(f"{spec}: no such folder (did you mean {close[0]}?)")
    return FolderSource(spec, labels=labels, allow_outside_root=allow_outside_root)

__all__ = ["DataError", "Item", "Source", "Locator", "LocatorReader", "open_source", "open_locator", "read_locator",
           "DATA_KINDS"]
