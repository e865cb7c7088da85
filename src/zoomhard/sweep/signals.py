"""Stops that wait for a write: SIGTERM taken as Ctrl-C, and both held while a part is written.

A sweep killed by Ctrl-C, `kill`, Slurm, Kubernetes or Docker writes what it finished before it
ends, and a stop that arrives during a write lands once the write is done.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator

_held = 0            # depth of signals_held() blocks on the main thread
_asked: list = []    # the stop asked for while held: raised when the outermost block ends


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (kill, Slurm, Kubernetes, Docker) handled as Ctrl-C is: finished work is written
    before the process ends. Ctrl-C or SIGTERM during a write (signals_held) waits for the write
    to end. Only the main thread can take signals; elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        stop = Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()
        if _held:
            _asked.append(stop)
        else:
            raise stop

    ours = [signal.SIGTERM] + ([signal.SIGINT] if signal.getsignal(signal.SIGINT) is signal.default_int_handler
                               else [])   # an ignored Ctrl-C (a job started with &) stays ignored
    previous = {sig: signal.signal(sig, interrupt) for sig in ours}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _asked.clear()


@contextmanager
def signals_held() -> Iterator[None]:
    """A write a stop must not cut in half: a Ctrl-C or SIGTERM that arrives inside is raised
    as the block ends, the written rows and the session's memory of them agreeing."""
    global _held
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _held += 1
    try:
        yield
    finally:
        _held -= 1
        if not _held and _asked:
            stop = _asked[0]
            _asked.clear()
            raise stop


class Terminated(KeyboardInterrupt):
    """The process was asked to stop (SIGTERM)."""
