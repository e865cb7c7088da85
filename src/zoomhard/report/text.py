"""How the report's outputs write things: class names, counts, percentages, escaped markup."""

from __future__ import annotations

import base64
import html

from .. import labels as L


def class_name(index: int) -> str:
    """An ImageNet-1k class's short name; an index outside the 1,000 as its number."""
    return L.short_name(index) if 0 <= index < len(L.wnids()) else str(index)


def count(k: int, word: str) -> str:
    """'1 transform', '3 transforms'."""
    return f"{k} {word}" + ("" if k == 1 else "s")


def prob_text(p: float) -> str:
    """A probability as a short percentage that does not round a small one to 0%."""
    return f"{p:.0%}" if p >= 0.095 else f"{p:.1%}"


def percent(v: float | None) -> str:
    """A fraction in [0, 1] as '12.34%'; '-' where there is none (a partial run's)."""
    return "-" if v is None else f"{v:.2%}"


def e(x) -> str:
    """Text made safe inside HTML markup and attribute values."""
    return html.escape(str(x), quote=True)


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
