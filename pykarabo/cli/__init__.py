"""The ``pykarabo`` command line: one entry point, one module per subcommand."""

from __future__ import annotations

import argparse
import logging

from pykarabo.cli import bridge, broker, daq, demo, pipe, server, shell


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(prog="pykarabo", description="pykarabo: Karabo 3 compatible tools.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True)
    bridge.register(sub)
    broker.register(sub)
    daq.register(sub)
    demo.register(sub)
    pipe.register(sub)
    server.register(sub)
    shell.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    return args.func(args)
