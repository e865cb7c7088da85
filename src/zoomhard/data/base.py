from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Protocol


class DataError(Exception):
    """A data spec that names nothing usable; the message says what to give instead."""


@dataclass(frozen=True)
class Item:
    image_id: str
    labels: tuple[int, ...]     # every acceptable ImageNet-1k index
    origin: str                 # source benchmark or class folder; "" when unknown
    locator: str                # 'file:/abs/path' or 'parquet:/abs/file.parquet#row' (open_locator)
    payload: bytes | None = None  # the encoded image when the source already holds it in memory

    def read(self) -> str | bytes:
        """What crops.decode_image takes: the bytes, or the file path."""
        return self.payload if self.payload is not None else open_locator(self.locator)


class Source(Protocol):
    spec: str
    # ImageNet-1k indices the prediction is restricted to under --subset auto; None for all 1000.
    auto_subset: tuple[int, ...] | None

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[Item]: ...

    def describe(self) -> dict: ...


def open_locator(locator: str) -> str | bytes:
    """Read an image back from where a source said it lives."""
    kind, _, rest = locator.partition(":")
    if kind == "file":
        return rest
    if kind == "parquet":
        import pyarrow.parquet as pq

        path, _, row = rest.rpartition("#")
        pf = pq.ParquetFile(path)
        row = int(row)
        for g in range(pf.num_row_groups):
            n = pf.metadata.row_group(g).num_rows
            if row < n:
                cell = pf.read_row_group(g, columns=["image"]).column(0)[row].as_py()
                return cell["bytes"] if isinstance(cell, dict) else cell
            row -= n
        raise DataError(f"{locator}: row out of range")
    raise DataError(f"cannot read back {locator!r}")


def relative_id(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()
