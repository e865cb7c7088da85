"""Every command survives a kill as sweep does: a SIGKILL at any write leaves the old outputs or
the new ones, never a mix that a later command trips over.

The kill is deterministic: the command runs in a child Python whose os.replace (the last step
of every atomic write) kills the process, with SIGKILL, at its Nth call."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from zoomhard.cli import main

from test_foreign_runs import built_run

SRC = str(Path(__file__).resolve().parents[1] / "src")

KILLER = """
import os, signal, sys
from zoomhard.cli import main
n, real, calls = int(os.environ["KILL_AT"]), os.replace, [0]
def replace(src, dst, *a, **k):
    calls[0] += 1
    if calls[0] == n:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(src, dst, *a, **k)
os.replace = replace
rc = main(sys.argv[1:])
print("REPLACES", calls[0], file=sys.stderr)
sys.exit(rc)
"""


def killed_at(n: int, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "KILL_AT": str(n), "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-c", KILLER, *map(str, args)], env=env, capture_output=True, text=True,
                          timeout=600)


def replaces(*args: str) -> int:
    """How many atomic writes the command makes when left alone."""
    p = killed_at(0, *args)
    assert p.returncode == 0, p.stderr
    return int(p.stderr.rsplit("REPLACES", 1)[1])


def named_files_intact(run: Path) -> None:
    doc = json.loads((run / "analysis.json").read_text())
    named = list(doc["figures"].values()) + [g[s]["crop"] for g in doc["gallery"] for s in ("standard", "best")
                                               if g[s]["crop"]]
    for rel in named:
        assert (run / rel).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", rel


def test_a_second_analyze_killed_at_any_write_leaves_a_run_that_reports(tmp_path):
    run = built_run(tmp_path)
    assert main(["analyze", str(run)]) == 0
    total = replaces("analyze", run, "--gallery", "1")     # a second analysis: other gallery, stale crops
    assert main(["analyze", str(run)]) == 0
    for n in sorted({1, 2, total // 2, total - 1, total} - {0}):
        p = killed_at(n, "analyze", run, "--gallery", "1")
        assert p.returncode == -signal.SIGKILL, p.stderr
        named_files_intact(run)
        assert main(["report", str(run), "--out", str(tmp_path / "report.html")]) == 0
        assert main(["analyze", str(run)]) == 0           # and back to six for the next kill
