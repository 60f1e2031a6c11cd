"""The command-line reference page matches the parsers' real --help output."""

import sys

import pytest

from tests.docs.cli_reference import PAGE, normalized, render


@pytest.mark.skipif(sys.version_info >= (3, 13), reason="argparse lays out options differently from Python 3.13 "
                    "on; the page is generated with Python 3.11/3.12")
def test_cli_reference_is_current():
    assert PAGE.exists(), "docs/reference/cli.md is missing: run python -m tests.docs.cli_reference"
    assert normalized(PAGE.read_text(encoding="utf-8")) == normalized(render()), (
        "docs/reference/cli.md is stale: run `python -m tests.docs.cli_reference` from the repository root")


def test_cli_reference_covers_every_subcommand():
    text = PAGE.read_text(encoding="utf-8")
    for command in ("pykarabo server", "pykarabo shell", "pykarabo broker serve", "pykarabo broker topology",
                    "pykarabo pipe send", "pykarabo pipe recv", "pykarabo bridge sim", "pykarabo bridge serve-files",
                    "pykarabo bridge record", "pykarabo bridge replay", "pykarabo bridge monitor",
                    "pykarabo bridge glimpse", "pykarabo daq record", "pykarabo demo"):
        assert f"`{command}`" in text, command
