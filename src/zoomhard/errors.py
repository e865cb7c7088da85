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
    """An image that cannot be used; the message is the reason recorded in errors.csv. `fault`
    says whose: the image's (undecodable, a bomb, truncated: recorded for good) or the
    environment's (memory, a file not there yet, an I/O error: retried when the run resumes)."""

    fault = "image"


class TransientImageError(ImageDecodeError):
    """An image that could not be read this time for a reason outside it (out of memory, the
    file not there yet, an I/O error of the disk): recorded as transient, retried on resume."""

    fault = "environment"


FAULTS = ("image", "environment")


def fault_of(e: BaseException) -> str:
    """Whose fault an exception met while reading one image is: "environment" for memory, a
    missing file and operating-system I/O errors (they carry an errno; an undecodable file's
    errors from PIL do not), else "image"."""
    if isinstance(e, ImageDecodeError):
        return e.fault
    if isinstance(e, (MemoryError, FileNotFoundError)):
        return "environment"
    if isinstance(e, OSError) and e.errno is not None:
        return "environment"
    return "image"
