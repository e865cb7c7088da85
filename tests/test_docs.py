"""The documentation says what the code does: the command-line page is the commands' own
--help, every Python example in docs/ runs, and the README stays a front page."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def test_the_command_line_page_is_the_commands_help():
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "cli_docs.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def _pages_with_python():
    return sorted(p.name for p in DOCS.glob("*.md") if PYTHON_BLOCK.search(p.read_text()))


@pytest.mark.parametrize("page", _pages_with_python())
def test_the_python_examples_of_each_page_run(page, tmp_path, monkeypatch, samples_run):
    """Each page's examples run in order, in one namespace, in a fresh folder that holds the
    run folder the pages read (runs/lite0-val: the samples swept by lite0)."""
    shutil.copytree(samples_run, tmp_path / "runs" / "lite0-val")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": f"docs.{page}"}
    for k, block in enumerate(PYTHON_BLOCK.findall((DOCS / page).read_text())):
        exec(compile(block, f"docs/{page}, example {k + 1}", "exec"), namespace)


def test_every_page_is_in_the_site_navigation():
    nav = (REPO / "mkdocs.yml").read_text()
    for page in DOCS.glob("*.md"):
        assert f" {page.name}" in nav, page.name
