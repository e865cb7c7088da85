"""Who may write a run folder: an exclusive lock for a whole-run writer, one per shard.

    RUN/.lock                  a whole-run sweep holds it exclusively; each --shard K/N sweep
                               holds it shared, so shards run side by side but never beside a
                               whole-run writer
    RUN/.lock-shard-K-of-N     held exclusively by the one process sweeping shard K/N

Locks are `flock`s: the kernel drops them when their process ends, however it ends, so a killed
run never leaves a stale lock behind. The file a lock is exclusively held on names its holder
(pid, host, since when) for the message a refused writer prints. Per-GPU worker processes of a
sweep take no lock: their parent holds it for them while they run.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path

from ..errors import LockedError
from .files import atomic_write_text


def _holder() -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}


def _describe(path: Path) -> str:
    try:
        h = json.loads(path.read_text() or "{}")
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(h["since"]))
        return f"pid {h['pid']} on {h['host']} since {when}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


def _flock(path: Path, mode: int) -> int | None:
    """The open descriptor holding `mode` on `path`, or None when someone else holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _write_holder(fd: int) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(_holder()).encode(), 0)


def _busy_shards(folder: Path) -> list[str]:
    """Holders of the shard locks that are held right now."""
    out = []
    for path in sorted(folder.glob(".lock-shard-*")):
        fd = _flock(path, fcntl.LOCK_EX)
        if fd is None:
            out.append(f"shard {path.name.removeprefix('.lock-shard-').replace('-of-', '/')}: {_describe(path)}")
        else:
            os.close(fd)
    return out


class RunLock:
    """Held by one writer of a run folder until `release` (or the process's end)."""

    def __init__(self, fds: list[int]):
        self._fds = fds

    def release(self) -> None:
        for fd in self._fds:
            os.close(fd)
        self._fds = []

    def __del__(self) -> None:
        # A store dropped without close() (a one-off RunStore(...).open(...)) lets go of the
        # folder with it, instead of holding the lock until the process ends.
        self.release()


def acquire_run_lock(folder: Path, shard: tuple[int, int] | None = None, lock_file: Path | None = None) -> RunLock:
    """The writer's lock on `folder` (a run folder, a study folder; held on `lock_file`, by
    default FOLDER/.lock), or LockedError saying who holds it."""
    main = lock_file or folder / ".lock"
    main.parent.mkdir(parents=True, exist_ok=True)
    if shard is None:
        fd = _flock(main, fcntl.LOCK_EX)
        if fd is None:
            holders = (_busy_shards(folder) if folder.is_dir() else []) or [_describe(main)]
            raise LockedError(f"{folder} is being written by {'; '.join(holders)}; "
                              "wait for it to end or choose another --out folder")
        _write_holder(fd)
        return RunLock([fd])
    fd = _flock(main, fcntl.LOCK_SH)
    if fd is None:
        raise LockedError(f"{folder} is being written by {_describe(main)} (the whole run); "
                          "wait for it to end or choose another --out folder")
    path = folder / f".lock-shard-{shard[0]}-of-{shard[1]}"
    mine = _flock(path, fcntl.LOCK_EX)
    if mine is None:
        os.close(fd)
        raise LockedError(f"{folder}: shard {shard[0]}/{shard[1]} is being swept by {_describe(path)}; "
                          "wait for it to end or sweep another shard")
    _write_holder(mine)
    return RunLock([mine, fd])


def update_json(path: Path, change) -> dict:
    """Read `path` (a JSON object), apply `change` to it and write it back atomically, while no
    other process does the same: several shard writers each add their own session to one
    run.json without losing another's."""
    guard = _flock_wait(path.with_name(f".{path.name}.lock"))
    try:
        data = json.loads(path.read_text()) if path.exists() else {}
        data = change(data)
        atomic_write_text(path, json.dumps(data, indent=2) + "\n")
        return data
    finally:
        os.close(guard)


def _flock_wait(path: Path) -> int:
    """An exclusive lock held only for a read-modify-write: waited for, never refused."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd
