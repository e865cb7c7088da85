"""Parquet files in the ImageNet-Hard layout: read a row group at a time (memory stays flat),
and written by `write_parquet` (curate's export).

    image          struct<bytes: binary, path: string>   (Hugging Face datasets' Image feature)
    label          list<int> of every acceptable ImageNet-1k index (a plain int is accepted)
    origin         string, the source benchmark (optional)
    english_label  list<string> (optional, not needed here)
"""

from __future__ import annotations

import functools
import glob
import json
import math
import os
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .. import labels as L
from .base import OUTSIDE_HINT, DataError, Item, file_locator, label_reason, not_a_file, under
from .locator import Locator, Recent, register

SHARD_BYTES = 256 * 2**20     # image bytes per parquet file
ROW_GROUP = 64                # small row groups: reading one image back reads one group

# Hugging Face datasets' features, stored as the parquet schema's b"huggingface" metadata so that
# load_dataset('parquet', ...) decodes `image`. "Sequence" is read by every datasets release
# (>= 4 also writes it as "List").
HF_FEATURES = {
    "image": {"_type": "Image"},
    "label": {"feature": {"dtype": "int64", "_type": "Value"}, "_type": "Sequence"},
    "origin": {"dtype": "string", "_type": "Value"},
    "english_label": {"feature": {"dtype": "string", "_type": "Value"}, "_type": "Sequence"},
}
SCHEMA = pa.schema([
    ("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
    ("label", pa.list_(pa.int64())),
    ("origin", pa.string()),
    ("english_label", pa.list_(pa.string())),
]).with_metadata({"huggingface": json.dumps({"info": {"features": HF_FEATURES}})})


def _label(value) -> int | None:
    """One label cell value as an ImageNet-1k index; None when out of range (not a 1k class)."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a class")
    if isinstance(value, float):
        if not math.isfinite(value) or value != int(value):
            raise ValueError(f"{value!r} is not a whole class index")
        value = int(value)
    if isinstance(value, str):
        return L.parse_label(value)
    index = int(value)
    return index if 0 <= index < 1000 else None


def _labels(value) -> tuple[int, ...]:
    """A label cell (an index, a list of them, indices as text or wnids) as sorted indices;
    ValueError for a value that names no class (a float with a fraction, a word)."""
    if value is None:
        return ()
    values = value if isinstance(value, (list, tuple)) else [value]
    return tuple(sorted({i for i in (_label(v) for v in values if v is not None) if i is not None}))


def labels_or_reason(value, where: str) -> tuple[tuple[int, ...], str | None]:
    """(labels, None), or ((), why) naming the column and row: one bad row is recorded."""
    try:
        return _labels(value), None
    except (ValueError, TypeError) as e:
        return (), label_reason(where, "label", e)


_SCALAR = (pa.types.is_integer, pa.types.is_floating, pa.types.is_string, pa.types.is_large_string)


def _check_types(f: Path, schema: pa.Schema) -> None:
    """Refuse up front a label, origin or image column no row could be read from."""
    label = schema.field("label").type
    inner = label.value_type if pa.types.is_list(label) or pa.types.is_large_list(label) else label
    if not any(t(inner) for t in _SCALAR) and not pa.types.is_null(inner):
        raise DataError(f"{f}: column label is {label}; give class indices (int) or wnids (string), or lists of them")
    image = schema.field("image").type
    if not (pa.types.is_struct(image) or pa.types.is_binary(image) or pa.types.is_large_binary(image)
            or pa.types.is_string(image) or pa.types.is_large_string(image)):
        raise DataError(f"{f}: column image is {image}; give {{bytes, path}}, the encoded bytes, or a path")
    if "origin" in schema.names:
        origin = schema.field("origin").type
        if pa.types.is_nested(origin) or pa.types.is_binary(origin):
            raise DataError(f"{f}: column origin is {origin}; give text (it is read as a string)")


class ParquetSource:
    auto_subset = None

    def __init__(self, pattern: str, allow_outside_root: bool = False):
        self.spec = f"parquet:{pattern}"
        self.allow_outside_root = allow_outside_root
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
            _check_types(f, meta.schema_arrow)
            self._n += meta.metadata.num_rows

    def __len__(self) -> int:
        return self._n

    def _file_item(self, f: Path, image_id: str, labels, origin: str, path: str, reason: str | None) -> Item:
        """A row that names an image file instead of holding its bytes: read only when it lies
        in the parquet's own folder (a shared dataset must not reach the reader's own files)."""
        file = Path(path) if Path(path).is_absolute() else f.parent / path
        if reason is None and not self.allow_outside_root and not under(file, f.parent):
            reason = f"image path outside the parquet's folder; {OUTSIDE_HINT}"
        reason = reason or not_a_file(file)
        return Item(image_id, labels, origin, "" if reason else file_locator(file.resolve()), unusable=reason)

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
                    if isinstance(data, str):  # the column holds paths, not bytes
                        data, path = None, data
                    image_id = path if path else str(index)
                    if image_id in seen:  # the stored paths are not always unique
                        image_id = f"{image_id}#{index}"
                    seen.add(image_id)
                    origin = cols["origin"][i] if "origin" in cols else ""
                    origin = "" if origin is None else str(origin)
                    labels, reason = labels_or_reason(cols["label"][i], f"{f.name} row {row}")
                    if data is None and path:
                        yield self._file_item(f, image_id, labels, origin, path, reason)
                    else:
                        yield Item(image_id, labels, origin, str(Locator("parquet", (str(f), str(row)))),
                                   payload=data if data is not None else b"", unusable=reason)
                    row += 1
                    index += 1

    def locator_roots(self) -> list[Path]:
        return sorted({f.parent for f in self.files})

    def describe(self) -> dict:
        return {"spec": self.spec, "kind": "parquet", "files": [str(f) for f in self.files],
                **({"allow_outside_root": True} if self.allow_outside_root else {}), "images": len(self)}


def _open_row(loc: Locator, recent: Recent) -> bytes:
    """The image bytes of `parquet:FILE#ROW`, its whole row group read once and kept: a group
    holds up to hundreds of images and callers go through rows in data order."""
    path, row = loc.parts
    if not (row.isascii() and row.isdigit()):
        raise DataError(f"row {row!r} is not a row number")
    row_n = int(row)
    try:
        st = os.stat(path)
        starts = _group_starts(path, st.st_mtime_ns, st.st_size)
        if row_n >= starts[-1]:
            raise DataError(f"row out of range (the file has {starts[-1]})")
        group = int(np.searchsorted(starts, row_n, side="right")) - 1
        cells = recent.get((path, st.st_mtime_ns, group), lambda: _group_images(path, group))
    except FileNotFoundError:
        raise DataError("no such parquet file") from None
    except (OSError, pa.ArrowException, KeyError) as e:  # moved, damaged, or no image column
        raise DataError(f"not a readable ImageNet-Hard parquet file ({e})") from None
    cell = cells[row_n - starts[group]]
    data = cell.get("bytes") if isinstance(cell, dict) else cell
    if not isinstance(data, (bytes, bytearray)):
        raise DataError("the row holds no image bytes")
    return data


def _group_images(path: str, group: int) -> list:
    return pq.ParquetFile(path).read_row_group(group, columns=["image"]).column(0).to_pylist()


@functools.lru_cache(maxsize=256)
def _group_starts(path: str, mtime_ns: int, size: int) -> np.ndarray:
    """The first row of each row group, and the number of rows last (read once per version of
    the file: its footer is all that is read)."""
    meta = pq.ParquetFile(path).metadata
    return np.cumsum([0] + [meta.row_group(g).num_rows for g in range(meta.num_row_groups)])


def _shards(sizes: list[int]) -> list[list[int]]:
    """Positions grouped into files of about SHARD_BYTES of image data each."""
    shards: list[list[int]] = [[]]
    total = 0
    for k, n in enumerate(sizes):
        if shards[-1] and total + n > SHARD_BYTES:
            shards.append([])
            total = 0
        shards[-1].append(k)
        total += n
    return shards


def write_parquet(folder: Path, rows: Iterable[tuple[bytes, str, tuple[int, ...], str]], sizes: list[int]) -> list[str]:
    """DIR/data/validation-0000k-of-0000n.parquet in this layout, with Hugging Face datasets'
    feature metadata, from (image bytes, path, labels, origin) rows taken in order a row group at
    a time; `sizes` (each row's image bytes) splits them into files. The files' names, relative
    to `folder`."""
    names = L.class_names()
    data = folder / "data"
    data.mkdir(parents=True)
    shards = _shards(sizes)  # one empty file when nothing is kept: the layout still loads
    rows = iter(rows)
    files = []
    for s, positions in enumerate(shards):
        name = f"validation-{s:05d}-of-{len(shards):05d}.parquet"
        with pq.ParquetWriter(data / name, SCHEMA, compression="zstd") as writer:
            for start in range(0, len(positions), ROW_GROUP):
                group = [next(rows) for _ in positions[start:start + ROW_GROUP]]
                writer.write_table(pa.table({
                    "image": [{"bytes": image, "path": path} for image, path, _, _ in group],
                    "label": [list(labels) for _, _, labels, _ in group],
                    "origin": [origin for _, _, _, origin in group],
                    "english_label": [[names[k] for k in labels] for _, _, labels, _ in group],
                }, schema=SCHEMA))
        files.append(f"data/{name}")
    return files


register("parquet", "#", _open_row)
