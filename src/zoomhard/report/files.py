"""Which files of a run folder a page may embed: the run's own figures and gallery crops only.

Nothing here imports the rest of the report, so that every part of it can ask.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
GALLERY_CROP = re.compile(r"^gallery/\d{2}-(standard|best)\.png$")


def own_png(run_dir: Path, rel: str | None, figures: frozenset[str] | set[str] = frozenset()) -> Path | None:
    """The run's own figure (one of `figures`, as analysis.json names them) or gallery crop
    that `rel` may be: one of the names analyze writes, inside the run folder with no link on
    the way, a regular file, a PNG. None otherwise: a run folder from someone else is data, and
    a page that embeds its files must not embed /etc/passwd because its analysis.json says so."""
    if not isinstance(rel, str) or not (rel in figures or GALLERY_CROP.match(rel)):
        return None
    root = Path(run_dir)
    p = root
    for part in rel.split("/"):
        p = p / part
        if p.is_symlink():
            return None
    try:
        st = os.lstat(p)
        if not stat.S_ISREG(st.st_mode) or not p.resolve().is_relative_to(root.resolve()):
            return None
        with open(p, "rb") as f:
            return p if f.read(len(PNG_MAGIC)) == PNG_MAGIC else None
    except OSError:
        return None
