"""The errors zoomhard raises for the user to fix, all under ZoomhardError.

Each message says what was wrong and what to give instead, so the command line prints it as
one line (exit code 2); any other exception is a bug in zoomhard and keeps its traceback. The
second bases (ValueError, TypeError, FileNotFoundError) keep `except ValueError` callers of the
Python API working.

This module imports nothing of zoomhard's, so that every module can raise from it.
"""

from __future__ import annotations


class ZoomhardError(Exception):
    """Something the user gave (an option, a path, a spec, a file's content) that zoomhard
    cannot use; the message says what to do instead."""


class UsageError(ZoomhardError, ValueError):
    """An option or argument value that is out of range, malformed or names nothing known."""


class MissingPathError(ZoomhardError, FileNotFoundError):
    """A file or folder the user named that does not exist."""


class ArgumentError(ZoomhardError, TypeError):
    """A Python argument of a kind the API does not take."""


class ModelArgumentError(ArgumentError):
    """A model argument that zoomhard.sweep cannot run; the message says what to pass."""


class DataArgumentError(ArgumentError):
    """An entry of a Python data iterable that is not (image, labels[, image_id])."""


class ModelError(ZoomhardError):
    """A model spec that cannot be loaded; the message says what to do instead."""


class DataError(ZoomhardError):
    """A data spec that names nothing usable; the message says what to give instead."""


class LabelError(UsageError):
    """A label that names no ImageNet-1k class (or several); the message says what to give."""


class RunError(ZoomhardError):
    """A run folder that is missing, incomplete, or holds another configuration."""


class LockedError(ZoomhardError):
    """Another process is writing the run folder."""


class StudyError(UsageError):
    """A study file that cannot run as written; the message names what is valid."""


class OfflineError(ZoomhardError):
    """A download that cannot happen: no network, or the hub switched off (HF_HUB_OFFLINE)."""


class ImageDecodeError(ZoomhardError):
    """An image that cannot be used; the message is the reason recorded in errors.csv."""
