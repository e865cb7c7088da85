from __future__ import annotations

import errno
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Protocol
from urllib.parse import quote_from_bytes, unquote_to_bytes

from ..errors import DataError
from .locator import Locator, Recent, open_locator, register


# What a record says when a file a dataset names lies outside its folder.
OUTSIDE_HINT = "pass --allow-outside-root to read it"

# What a record says of an image that has no label to score against: none given, or a label
# column the source could not read ('labels.csv line 3, column labels: ...').
NO_LABEL = "no ImageNet-1k label"


def label_reason(where: str, column: str, error: Exception) -> str:
    return f"{where}, column {column}: {error}"


def unlabelled(reason: str) -> bool:
    """Whether an errors.csv reason is about the image's labels rather than its file."""
    return reason == NO_LABEL or re.search(r", column labels?: ", reason) is not None


@dataclass(frozen=True)
class Item:
    image_id: str
    labels: tuple[int, ...]     # every acceptable ImageNet-1k index
    origin: str                 # source benchmark or class folder; "" when unknown
    locator: str                # str(Locator): 'file:/abs/path', 'parquet:/abs/file.parquet#row', ...
    payload: bytes | None = None  # the encoded image when the source already holds it in memory
    unusable: str | None = None   # why the source will not read it (recorded in errors.csv instead)

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


def relative_id(path: Path, root: Path) -> str:
    """The image id of a file below `root`: its relative path. Bytes of a name that are not
    UTF-8 are written as \\xNN (the file is read back by its locator, not by its id)."""
    return path_text(path.relative_to(root).as_posix())


def path_text(path: str | Path) -> str:
    """A path as text that UTF-8 files (Parquet, CSV) can hold, whatever bytes its name has."""
    return os.fsencode(str(path)).decode("utf-8", "backslashreplace")


def file_locator(path: Path) -> str:
    """'file:/abs/path', or for a name that is not UTF-8 'filebytes:' and its percent-encoded
    bytes, which open_locator turns back into the very same file name."""
    raw = os.fsencode(str(path))
    try:
        return str(Locator("file", (raw.decode("utf-8"),)))
    except UnicodeDecodeError:
        return str(Locator("filebytes", (quote_from_bytes(raw, safe="/"),)))


def _open_file(loc: Locator, recent: Recent) -> str:
    return loc.parts[0]


def _open_filebytes(loc: Locator, recent: Recent) -> str:
    return os.fsdecode(unquote_to_bytes(loc.parts[0]))


register("file", "", _open_file)
register("filebytes", "", _open_filebytes)


def under(path: Path, root: Path) -> bool:
    """The path a dataset names lies inside `root` once `..` is taken into account. Links inside
    the folder are followed wherever they point: they are its owner's, as in a folder of links
    into a shared store."""
    inside = os.path.normpath(os.path.abspath(path))
    base = os.path.normpath(os.path.abspath(root))
    return inside == base or inside.startswith(base.rstrip(os.sep) + os.sep)


# Reasons not_a_file gives that are the environment's, not the data's: a file not there yet, a
# stat that failed on the disk. Recorded as transient and tried again when the run resumes.
TRANSIENT_REASONS = ("file not found", "cannot stat:")


def reason_fault(reason: str) -> str:
    """Whose fault an item's `unusable` reason is: "environment" (retried) or "image"."""
    return "environment" if reason.startswith(TRANSIENT_REASONS) else "image"


def not_a_file(path: Path) -> str | None:
    """None for a regular file (or a link to one); else why it is not read: sweeping only
    regular files keeps a FIFO from blocking the run and a link loop from ending it."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return "dangling symlink" if path.is_symlink() else "file not found"
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "symlink loop"
        return f"cannot stat: {e.strerror}"
    if stat.S_ISREG(st.st_mode):
        return None
    kind = {stat.S_IFDIR: "a folder", stat.S_IFIFO: "a FIFO", stat.S_IFSOCK: "a socket", stat.S_IFCHR: "a device",
            stat.S_IFBLK: "a device"}.get(stat.S_IFMT(st.st_mode), "special")
    return f"not a regular file ({kind})"
