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
    pages = [REPO / "README.md", *sorted(DOCS.glob("*.md"))]
    return [str(p.relative_to(REPO)) for p in pages if PYTHON_BLOCK.search(p.read_text())]


@pytest.mark.parametrize("page", _pages_with_python())
def test_the_python_examples_of_each_page_run(page, tmp_path, monkeypatch, capsys, samples_run):
    """Each page's examples run in order, in one namespace, in a fresh folder that holds the
    run folder the pages read (runs/lite0-val: the samples swept by lite0)."""
    shutil.copytree(samples_run, tmp_path / "runs" / "lite0-val")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": f"docs.{page}"}
    for k, block in enumerate(PYTHON_BLOCK.findall((REPO / page).read_text())):
        exec(compile(block, f"{page}, example {k + 1}", "exec"), namespace)
    printed = capsys.readouterr().out
    if page == "docs/python.md":
        assert (tmp_path / "report.html").stat().st_size > 10_000
        assert "tensor([" in printed and "{}" in printed    # the TTA's top-1 and no unreadable image


def test_the_readme_is_a_front_page_whose_links_resolve():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    assert "    make demo\n    make test\n" in readme      # the quickstart: exactly two commands
    for target in re.findall(r"\]\(([^)#]+)", readme):
        if not target.startswith("http"):
            assert (REPO / target).exists(), target


def test_every_page_is_in_the_site_navigation():
    nav = (REPO / "mkdocs.yml").read_text()
    for page in DOCS.glob("*.md"):
        assert f" {page.name}" in nav, page.name
