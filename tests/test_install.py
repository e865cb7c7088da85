"""Installing: what `make demo` and `make test` set up, the extras the docs name, `python -m zoomhard`."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def _extras() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]


def _make(target: str, tmp_path) -> str:
    """The commands `make TARGET` would run on a fresh clone (no virtual environment yet)."""
    out = subprocess.run(["make", "-n", "-C", str(ROOT), target, f"VENV={tmp_path / 'venv'}"],
                         capture_output=True, text=True, check=True)
    return out.stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_demo_installs_only_what_a_sweep_needs_and_make_test_adds_the_dev_extras(tmp_path):
    demo, test = _make("demo", tmp_path), _make("test", tmp_path)
    assert "-e ." in demo and ".[dev]" not in demo and "zoomhard demo" in demo
    assert "-e '.[dev]'" in test and "pytest" in test and "mkdocs build --strict" in test


def test_every_extra_the_docs_and_messages_name_exists():
    extras = _extras()
    texts = [p.read_text() for p in [ROOT / "README.md", *(ROOT / "docs").glob("*.md"),
                                     *(ROOT / "src" / "zoomhard").rglob("*.py")]]
    named = {e for t in texts for group in re.findall(r"zoomhard\[([a-z_,]+)\]|'\.\[([a-z_,]+)\]'", t)
             for g in group if g for e in g.split(",")}
    assert {"transformers", "clip", "hf"} <= named
    assert named <= set(extras), named - set(extras)
    assert any(r.startswith("transformers") for r in extras["transformers"])


def test_python_dash_m_zoomhard_is_the_command():
    out = subprocess.run([sys.executable, "-m", "zoomhard", "datasets"], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert out.returncode == 0, out.stderr
    assert "samples" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "zoomhard", "sweep", "--nope"], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert bad.returncode == 2 and bad.stderr.startswith("zoomhard: error:")
