"""Where the locators of a run folder may lead when they are read back (the report's gallery and
thumbnails, curate's copies): where the data they came from lies, as the sweep recorded it.

    RUN/run.json  "locator_roots"   the folders the source's images lie in (a folder's root, the
                                    parquet files' folders, the paths a Python list named)
                  "data.allow_outside_root"   the run was swept with --allow-outside-root

A run folder is shared like a dataset, so its locators are data, not instructions: a locator
that leads outside those folders (file:/home/someone/private.png) is read only when the run
was swept with --allow-outside-root and the reader's user says --allow-outside-root too.
Samples are read from zoomhard's own sample folders (this machine's copy of the sample a
locator names, wherever the sweep found it); an in-memory Python image from RUN/inputs.
"""

from __future__ import annotations

import os
from pathlib import Path

from .base import DataError, under
from .locator import Locator, read_locator

# Schemes whose first part is a local path that must lie inside the roots.
_PATH_SCHEMES = ("file", "filebytes", "parquet")


def source_roots(source) -> list[str]:
    """The folders a source's images lie in, for run.json's "locator_roots"."""
    while not hasattr(source, "locator_roots") and hasattr(source, "inner"):   # a relabelled source
        source = source.inner
    roots = getattr(source, "locator_roots", None)
    return sorted({str(Path(r).resolve()) for r in roots()}) if roots else []


def _sample_roots() -> list[Path]:
    from .samples import SAMPLES, sample_path

    out = set()
    for _, package, rel, _ in SAMPLES:
        try:
            out.add(sample_path(package, rel).resolve().parent)
        except DataError:
            pass
    return sorted(out)


class LocatorPolicy:
    """Reads a run's locators back, refusing those that lead outside its data (module doc)."""

    def __init__(self, config: dict, run_dir: str | os.PathLike, allow_outside_root: bool = False):
        data = config.get("data") if isinstance(config.get("data"), dict) else {}
        roots = config.get("locator_roots")
        if not isinstance(roots, list):   # a run swept before "locator_roots": its data's own record
            roots = [data["root"]] if isinstance(data.get("root"), str) else []
            roots += [str(Path(f).parent) for f in data.get("files", []) if isinstance(f, str)]
        self.roots = [Path(r) for r in roots if isinstance(r, str) and os.path.isabs(r)]
        self.roots.append(Path(run_dir).resolve() / "inputs")
        self.samples = data.get("kind") == "samples"
        if self.samples:
            self.roots += _sample_roots()
        self.swept_outside = bool(data.get("allow_outside_root"))
        self.outside_ok = self.swept_outside and allow_outside_root
        self.run_dir = Path(run_dir)

    def check(self, locator: str) -> str:
        """`locator`, or DataError saying why it is not read."""
        if self.samples:
            from .samples import local_sample

            locator = local_sample(locator) or locator
        loc = Locator.parse(locator)
        if loc.scheme not in _PATH_SCHEMES or self.outside_ok:
            return locator
        if loc.scheme == "filebytes":
            from urllib.parse import unquote_to_bytes

            path = os.fsdecode(unquote_to_bytes(loc.parts[0]))
        else:
            path = loc.parts[0]
        if any(under(Path(path), root) for root in self.roots):
            return locator
        where = ", ".join(str(r) for r in self.roots[:-1]) or "none recorded"
        hint = ("it was swept with --allow-outside-root: pass --allow-outside-root to read it if you trust "
                "this run folder" if self.swept_outside else "not read")
        raise DataError(f"{locator[:200]!r} lies outside the data the run {self.run_dir} was swept from "
                        f"({where}); {hint}")

    def read(self, locator: str) -> bytes:
        return read_locator(self.check(locator))
