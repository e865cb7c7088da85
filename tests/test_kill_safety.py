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
name, n, calls = os.environ["KILL_IN"], int(os.environ["KILL_AT"]), [0]
real = getattr(os, name)
def counted(*a, **k):
    calls[0] += 1
    if calls[0] == n:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(*a, **k)
setattr(os, name, counted)
rc = main(sys.argv[1:])
print("CALLS", calls[0], file=sys.stderr)
sys.exit(rc)
"""


def killed_at(n: int, *args: str, at: str = "replace") -> subprocess.CompletedProcess:
    """The command, killed with SIGKILL at its nth call of os.<at> (0: never)."""
    env = {**os.environ, "KILL_IN": at, "KILL_AT": str(n),
           "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-c", KILLER, *map(str, args)], env=env, capture_output=True, text=True,
                          timeout=600)


def replaces(*args: str, at: str = "replace") -> int:
    """How many times the command calls os.<at> when left alone (os.replace: its atomic writes)."""
    p = killed_at(0, *args, at=at)
    assert p.returncode == 0, p.stderr
    return int(p.stderr.rsplit("CALLS", 1)[1])


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


def _curated(out: Path) -> int:
    """The images of the complete curated set in `out`."""
    import pyarrow.parquet as pq

    summary = json.loads((out / "curate.json").read_text())
    return sum(pq.read_metadata(out / f).num_rows for f in summary["files"])


@pytest.mark.parametrize("at", ["replace", "unlink"])
def test_a_curate_force_killed_at_any_step_leaves_a_whole_set_and_no_leftovers(tmp_path, capsys, at):
    run = built_run(tmp_path)
    out = tmp_path / "hard"
    assert main(["curate", str(run), "--out", str(out), "--max-solved", "1"]) == 0
    args = ("curate", run, "--out", out, "--max-solved", "1", "--force")
    total = replaces(*args, at=at)
    for n in sorted({1, total // 2, total - 1, total} - {0}):
        p = killed_at(n, *args, at=at)
        assert p.returncode == -signal.SIGKILL, p.stderr
        assert _curated(out) == 3, n                               # the old set or the new, whole
        assert main(["curate", str(run), "--out", str(out), "--max-solved", "1", "--force"]) == 0, \
            capsys.readouterr().err
        assert _curated(out) == 3
        assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".hard.") and p.name != ".hard.lock"]


def test_two_reproduce_on_one_study_folder_the_second_stops_with_a_run_folders_message(tmp_path, capsys):
    from zoomhard.runs.lock import acquire_run_lock

    study = tmp_path / "s.toml"
    study.write_text('[models.lite0]\nspec = "lite0"\n[datasets.samples]\ndata = "samples"\n'
                     '[[experiments]]\nkind = "bench"\n')
    out = tmp_path / "study"
    held = acquire_run_lock(out)         # another reproduce at work on it
    try:
        assert main(["reproduce", str(study), "--out", str(out), "--no-progress"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1
        assert f"{out} is being written by pid {os.getpid()}" in err and "choose another --out folder" in err
        assert not (out / "study.json").exists() and not (out / "runs").exists()
    finally:
        held.release()
