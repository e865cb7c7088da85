"""Parquet files in the ImageNet-Hard layout, read a row group at a time (memory stays flat).

    image          struct<bytes: binary, path: string>   (Hugging Face datasets' Image feature)
    label          list<int> of every acceptable ImageNet-1k index (a plain int is accepted)
    origin         string, the source benchmark (optional)
    english_label  list<string> (optional, not needed here)
"""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Iterator

import pyarrow.parquet as pq

from .base import DataError, Item


def _labels(value) -> tuple[int, ...]:
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        return tuple(sorted({int(v) for v in value if v is not None and 0 <= int(v) < 1000}))
    return (int(value),) if 0 <= int(value) < 1000 else ()


class ParquetSource:
    auto_subset = None

    def __init__(self, pattern: str):
        self.spec = f"parquet:{pattern}"
        expanded = str(Path(pattern).expanduser())
        paths = sorted(glob.glob(expanded, recursive=True)) if glob.has_magic(expanded) else [expanded]
        paths = [p for p in paths if Path(p).is_file()]
        if not paths:
            raise DataError(f"{pattern}: no parquet files there")
        self.files = [Path(p).resolve() for p in paths]
        self._n = 0
        for f in self.files:
            try:
                meta = pq.ParquetFile(f)
            except Exception as e:  # pyarrow raises several types for a file that is not parquet
                raise DataError(f"{f}: not a readable parquet file ({e})") from None
            names = set(meta.schema_arrow.names)
            if not {"image", "label"} <= names:
                raise DataError(f"{f}: needs the columns image and label (ImageNet-Hard layout); has {sorted(names)}")
            self._n += meta.metadata.num_rows

    def __len__(self) -> int:
        return self._n

    def __iter__(self) -> Iterator[Item]:
        seen: set[str] = set()
        index = 0
        for f in self.files:
            pf = pq.ParquetFile(f)
            columns = [c for c in ("image", "label", "origin") if c in pf.schema_arrow.names]
            row = 0
            for batch in pf.iter_batches(batch_size=64, columns=columns):
                cols = batch.to_pydict()
                for i in range(batch.num_rows):
                    image = cols["image"][i]
                    data = image.get("bytes") if isinstance(image, dict) else image
                    path = image.get("path") if isinstance(image, dict) else None
                    image_id = path if path else str(index)
                    if image_id in seen:  # the stored paths are not always unique
                        image_id = f"{image_id}#{index}"
                    seen.add(image_id)
                    origin = cols["origin"][i] if "origin" in cols else ""
                    yield Item(image_id, _labels(cols["label"][i]), origin or "", f"parquet:{f}#{row}",
                               payload=data if data is not None else b"")
                    row += 1
                    index += 1

    def describe(self) -> dict:
        return {"spec": self.spec, "kind": "parquet", "files": [str(f) for f in self.files], "images": len(self)}
