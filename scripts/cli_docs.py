"""Write docs/cli.md, the command-line reference, from the commands' own --help.

    python scripts/cli_docs.py            # rewrite docs/cli.md
    python scripts/cli_docs.py --check    # exit 1 when docs/cli.md differs from the help

tests/test_docs.py runs the check, so the page and `zoomhard CMD --help` never drift apart.
"""

from __future__ import annotations

import sys
from pathlib import Path

PAGE = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
WIDTH = 100   # the width the group's context settings give every help text

HEADER = """# Command-line reference

Every command's `--help`, as `zoomhard` prints it (this page is generated from it by
`scripts/cli_docs.py`; a test fails when the two differ). A mistake on the command line prints
one line and exits with code 2.

Shell completion comes from click: add `eval "$(_ZOOMHARD_COMPLETE=bash_source zoomhard)"` to
`~/.bashrc` (`zsh_source` in `~/.zshrc`, `fish_source` for fish).
"""


def help_text(*command: str) -> str:
    """What `zoomhard COMMAND --help` prints, at a fixed width."""
    from click.testing import CliRunner

    from zoomhard.cli import cli

    result = CliRunner().invoke(cli, [*command, "--help"], prog_name="zoomhard", terminal_width=WIDTH)
    if result.exit_code != 0:
        raise RuntimeError(f"zoomhard {' '.join(command)} --help failed: {result.output}")
    return result.output.rstrip("\n")


def render() -> str:
    from zoomhard.cli import cli

    parts = [HEADER, "## zoomhard\n", "```text\n" + help_text() + "\n```\n"]
    for name in sorted(cli.commands):
        if not cli.commands[name].hidden:
            parts += [f"## zoomhard {name}\n", "```text\n" + help_text(name) + "\n```\n"]
    return "\n".join(parts)


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not PAGE.exists() or PAGE.read_text() != text:
            print(f"{PAGE} differs from the commands' --help; run python scripts/cli_docs.py", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(text)
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
