"""Writing a file atomically, hashing one and reading a user's JSON file: the package's one way
of each.

A file is written to a temporary name beside it, synced, then renamed over it, so a process
killed at any instant leaves the old file or the new one, never a mix. Folders that are swapped
as a whole (curate's output) are renamed by their own code.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import uuid
from pathlib import Path
from typing import Callable, Iterable

from ..errors import DataError


def atomic_write(path: str | os.PathLike, write: Callable[[Path], object]) -> Path | None:
    """`write(tmp)` fills a temporary file beside `path` (same folder, same suffix, so writers
    that go by the suffix, such as matplotlib's, still work), which is synced and then renamed
    over `path`: a process killed at any instant leaves the old file or the new one, never a
    mix, and a link at `path` is replaced, never written through. Its folder is created. When
    `write` returns False (it had nothing to write), `path` is left as it is and None returned."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.tmp{path.suffix}")
    try:
        if write(tmp) is False:
            return None
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:  # a failure or a full disk leaves no half-written file behind
        tmp.unlink(missing_ok=True)
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def write_csv(path: str | os.PathLike, header: list[str], rows: Iterable) -> None:
    """A CSV table with a header line, written atomically; its folder is created."""
    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(header)
            w.writerows(rows)

    atomic_write(path, write)


def file_sha256(path: str | os.PathLike) -> str:
    """The sha256 of a file's content, read in blocks (weights files run to gigabytes)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def read_json(path: str, what: str = "file", error: type[Exception] = DataError):
    """A user's JSON file, parsed; a missing or unreadable file is one `error` naming it."""
    try:
        return json.loads(Path(path).expanduser().read_text())
    except FileNotFoundError:
        raise error(f"{path}: no such {what}") from None
    except (OSError, ValueError) as e:  # a folder, no permission, not UTF-8, not JSON
        raise error(f"{path}: not a readable JSON {what} ({e})") from None
