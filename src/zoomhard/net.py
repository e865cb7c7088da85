"""Fail fast, with the fix in the message, when something must come from a hub and cannot."""

from __future__ import annotations

import os
import socket

from .errors import OfflineError


def hf_offline() -> bool:
    """HF_HUB_OFFLINE is set (to anything but 0): the Hugging Face hub is not to be asked."""
    return os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0")


def require_network(host: str, what: str, fix: str) -> None:
    """Raise OfflineError within seconds if `host` cannot be reached (or HF_HUB_OFFLINE is set
    for the Hugging Face hub), instead of letting a download retry for minutes."""
    if host.endswith("huggingface.co") and hf_offline():
        raise OfflineError(f"{what} needs the Hugging Face hub but HF_HUB_OFFLINE is set; {fix}")
    try:
        socket.create_connection((host, 443), timeout=3).close()
    except OSError as e:
        raise OfflineError(f"{what} needs {host}, which cannot be reached ({e.strerror or e}); {fix}") from None
