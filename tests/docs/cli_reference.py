"""Generate the command-line reference page (docs/reference/cli.md) from the real argument parsers.

    python -m tests.docs.cli_reference          # rewrite docs/reference/cli.md

``tests/docs/test_cli_reference.py`` fails when the page differs from what this would write, so
the reference cannot go stale: after changing an option, run the command above.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

PAGE = Path(__file__).resolve().parents[2] / "docs" / "reference" / "cli.md"
WIDTH = "100"

INTRO = """# Command line

One command, `pykarabo`, with a subcommand per tool. `python -m pykarabo` is the same. Every
option below is also shown by `pykarabo <subcommand> --help`.

This page is generated from the argument parsers themselves by `python -m tests.docs.cli_reference`
(run from the repository root); a test fails when it differs from the code.

Environment variables used by several commands: `KARABO_BROKER` (broker URL or comma-separated
URLs; default: the embedded broker `embedded://127.0.0.1:47770`) and `KARABO_BROKER_TOPIC` (default:
the login name).
"""


def _subparsers(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    """The (name, parser) pairs of a parser's subcommands, in declaration order."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return list(action.choices.items())
    return []


def _walk(parser: argparse.ArgumentParser, depth: int = 0):
    """(depth, parser) for ``parser`` and every subcommand below it, depth first."""
    yield depth, parser
    for _, sub in _subparsers(parser):
        yield from _walk(sub, depth + 1)


def render() -> str:
    """The Markdown text of the reference page."""
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH           # argparse wraps help text to the terminal width
    try:
        from pykarabo.cli import build_parser
        parts = [INTRO]
        for depth, parser in _walk(build_parser()):
            title = f"`{parser.prog}`"
            parts.append(f"{'#' * min(depth + 2, 4)} {title}\n\n```text\n{parser.format_help().rstrip()}\n```\n")
        return "\n".join(parts)
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old


def normalized(text: str) -> str:
    """``text`` with runs of white space collapsed, so that line wrapping does not count."""
    return " ".join(text.split())


def main() -> int:
    PAGE.write_text(render(), encoding="utf-8")
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
