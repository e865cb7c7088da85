"""Where an image lives, as a run records it, and the one way to read it back.

A locator is `SCHEME:BODY`; the body is the scheme's parts joined by its separators:

    file:/abs/path                      a local file
    filebytes:/abs/caf%E9.jpg           a local file whose name is not UTF-8 (percent-encoded bytes)
    parquet:/abs/file.parquet#ROW       a row of an ImageNet-Hard parquet file
    samples-offcentre:chelsea.png       a bundled photo planted off-centre (made on each read)
    hf:REPO@REVISION:SPLIT#ROW          a row of a Hugging Face dataset (a hub id or a local folder)

The module that writes a scheme registers its opener here (`register`); importing
`zoomhard.data` imports every source, so every scheme a run can hold is known by the time a
locator is parsed. Parts are split from the right, so the first part (a path, a repository)
may hold the separators that follow it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Hashable

from ..errors import DataError


class Recent:
    """The last `keep` values made by key (row groups, datasets), shared by threads; a value
    several threads ask for at once is made once."""

    def __init__(self, keep: int):
        self.keep = max(1, keep)
        self._values: OrderedDict[Hashable, object] = OrderedDict()
        self._making: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()

    def _cached(self, key: Hashable) -> tuple[bool, object]:
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                return True, self._values[key]
            return False, None

    def get(self, key: Hashable, make: Callable[[], object]):
        found, value = self._cached(key)
        if found:
            return value
        with self._lock:
            making = self._making.setdefault(key, threading.Lock())
        with making:  # outside the main lock: a slow read must not stall other keys
            found, value = self._cached(key)
            if found:
                return value
            try:
                value = make()
            finally:
                with self._lock:
                    self._making.pop(key, None)
            with self._lock:
                self._values[key] = value
                while len(self._values) > self.keep:
                    self._values.popitem(last=False)
        return value


# An opener gives a local file's path or the encoded bytes; it may keep what it read in `recent`.
Opener = Callable[["Locator", Recent], "str | bytes"]


@dataclass(frozen=True)
class Scheme:
    name: str
    separators: str   # one character between each pair of parts: "#" gives (path, row)
    open: Opener


_SCHEMES: dict[str, Scheme] = {}


def register(name: str, separators: str, opener: Opener) -> None:
    """Make `name:` locators parse and read; called by the module whose source writes them."""
    _SCHEMES[name] = Scheme(name, separators, opener)


def schemes() -> tuple[str, ...]:
    """The schemes a locator may have, sorted."""
    return tuple(sorted(_SCHEMES))


def _scheme(name: str, text: str) -> Scheme:
    if name not in _SCHEMES:
        raise DataError(f"{text!r}: unknown locator scheme {name!r}; known: {', '.join(schemes())}")
    return _SCHEMES[name]


def _split(body: str, separators: str) -> tuple[str, ...] | None:
    parts: list[str] = []
    for sep in reversed(separators):
        body, found, last = body.rpartition(sep)
        if not found:
            return None
        parts.insert(0, last)
    return (body, *parts)


@dataclass(frozen=True)
class Locator:
    scheme: str
    parts: tuple[str, ...]

    def __post_init__(self) -> None:
        scheme = _scheme(self.scheme, f"{self.scheme}:")
        if _split(self._body(scheme), scheme.separators) != self.parts:
            raise DataError(f"{self.scheme} locator parts {self.parts!r} do not read back "
                            f"(give {len(scheme.separators) + 1}, the later ones without {scheme.separators!r})")

    @classmethod
    def parse(cls, text: str) -> Locator:
        """The locator a run recorded; DataError naming it for an unknown scheme or shape."""
        name, colon, body = text.partition(":")
        if not colon:
            raise DataError(f"{text!r}: not a locator (SCHEME:WHERE); the image was not readable when swept"
                            if not text else f"{text!r}: not a locator (SCHEME:WHERE)")
        scheme = _scheme(name, text)
        parts = _split(body, scheme.separators)
        if parts is None:
            raise DataError(f"{text!r}: a {name} locator has {len(scheme.separators) + 1} parts "
                            f"separated by {' '.join(scheme.separators)}")
        return cls(name, parts)

    def _body(self, scheme: Scheme) -> str:
        return self.parts[0] + "".join(sep + part for sep, part in zip(scheme.separators, self.parts[1:]))

    def __str__(self) -> str:
        return f"{self.scheme}:{self._body(_SCHEMES[self.scheme])}"


class LocatorReader:
    """Reads images back from locators. Each scheme keeps the last `keep_groups` containers it
    opened (parquet row groups of hundreds of images, datasets), so callers going through rows
    in data order read each container once, not once per image. Thread-safe."""

    def __init__(self, keep_groups: int = 2):
        self.keep = keep_groups
        self._recent: dict[str, Recent] = {}
        self._lock = threading.Lock()

    def open(self, locator: str | Locator) -> str | bytes:
        """What crops.decode_image takes: a local file's path, or the encoded bytes."""
        loc = locator if isinstance(locator, Locator) else Locator.parse(locator)
        with self._lock:
            recent = self._recent.setdefault(loc.scheme, Recent(self.keep))
        try:
            return _SCHEMES[loc.scheme].open(loc, recent)
        except (DataError, OSError) as e:
            raise DataError(f"{str(loc)!r}: {e}") from None

    def read(self, locator: str | Locator) -> bytes:
        """The image's encoded bytes; DataError naming the locator when they cannot be read."""
        where = self.open(locator)
        if isinstance(where, (bytes, bytearray)):
            return bytes(where)
        try:
            return Path(where).read_bytes()
        except FileNotFoundError:
            raise DataError(f"{str(locator)!r}: no such file") from None
        except OSError as e:
            raise DataError(f"{str(locator)!r}: cannot read {where} ({e.strerror or e})") from None


_reader = LocatorReader()


def open_locator(locator: str | Locator) -> str | bytes:
    """Where a source said an image lives: a local path, or the image's bytes."""
    return _reader.open(locator)


def read_locator(locator: str | Locator) -> bytes:
    """The encoded bytes of the image a locator names, from whichever source wrote it."""
    return _reader.read(locator)
