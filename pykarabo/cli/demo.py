"""``pykarabo demo``: a miniature European XFEL instrument — detector, calibration, bridge, DAQ — in one command."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from pykarabo.errors import KaraboError


def register(sub) -> None:
    """Add the ``demo`` subcommand."""
    p = sub.add_parser(
        "demo", help="run a miniature instrument: detector, calibration, bridge, DAQ, dashboard",
        description="Runs a device server with simulated detector modules (bound API) at 10 Hz, one calibration "
                    "device per module (bound), a middlelayer device stacking the modules, a simulated motor and "
                    "XGM, a Karabo Bridge serving the corrected stream on loopback and a DAQ writer recording a "
                    "short run; shows a live dashboard, then validates the run. Ctrl-C stops it.")
    p.add_argument("--seconds", type=float, default=None,
                   help="stop after this many seconds of data taking (default: run until Ctrl-C)")
    p.add_argument("--modules", type=int, default=4, help="detector modules (default: 4)")
    p.add_argument("--pulses", type=int, default=16, help="frames per train and module (default: 16; "
                   "each frame is 512 x 128 uint16)")
    p.add_argument("--frequency", type=float, default=10.0, help="trains per second (default: 10, as at EuXFEL)")
    p.add_argument("--run-seconds", type=float, default=5.0, help="length of the DAQ run (default: 5)")
    p.add_argument("--directory", type=Path, default=None,
                   help="where the run and the log go (default: a new directory under the system's temp dir)")
    p.add_argument("--bridge", default="tcp://127.0.0.1:0", metavar="ENDPOINT",
                   help="ZeroMQ endpoint the bridge binds (default: a free port on loopback)")
    p.add_argument("--layout", choices=("online", "file"), default="online",
                   help="detector layout served by the bridge: online (modules, fs, ss, pulses) or "
                        "file (pulses, modules, ss, fs); default: online")
    p.add_argument("--broker", default=None, help="broker URL (default: $KARABO_BROKER or the embedded broker); "
                   "amqp://user:password@host:port runs the demo on RabbitMQ")
    p.add_argument("--topic", default=None, help="broker topic (default: $KARABO_BROKER_TOPIC or the user)")
    p.add_argument("--plain", action="store_true",
                   help="print status lines instead of the dashboard (the default when stdout is not a terminal)")
    p.set_defaults(func=run)


def _checkOptions(args: argparse.Namespace) -> None:
    if not 1 <= args.modules <= 16:
        raise KaraboError(f"--modules must be between 1 and 16, not {args.modules}")
    if not 1 <= args.pulses <= 352:
        raise KaraboError(f"--pulses must be between 1 and 352 (AGIPD's memory cells), not {args.pulses}")
    if args.frequency <= 0:
        raise KaraboError(f"--frequency must be positive, not {args.frequency}")
    if args.seconds is not None and args.seconds <= 0:
        raise KaraboError(f"--seconds must be positive, not {args.seconds}")
    if args.run_seconds <= 0:
        raise KaraboError(f"--run-seconds must be positive, not {args.run_seconds}")


def _logTo(path: Path, verbose: bool) -> None:
    """Everything into the demo's log file; only warnings on the console (the dashboard owns it)."""
    root = logging.getLogger()
    for handler in root.handlers:
        handler.setLevel(logging.DEBUG if verbose else logging.WARNING)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root.addHandler(handler)


def run(args: argparse.Namespace) -> int:
    """Run the demo, then report where everything is and whether the run is valid."""
    from pykarabo.demo.dashboard import Display
    from pykarabo.demo.instrument import Layout
    from pykarabo.demo.report import describeRun, validateRun
    from pykarabo.demo.runner import Settings, defaultDirectory, runDemo

    try:
        _checkOptions(args)
        directory = (args.directory or defaultDirectory()).resolve()
        directory.mkdir(parents=True, exist_ok=True)
    except (KaraboError, OSError) as exc:
        print(f"pykarabo demo: {exc}", file=sys.stderr)
        return 2
    logPath = directory / "demo.log"
    _logTo(logPath, getattr(args, "verbose", False))
    layout = Layout(modules=args.modules, pulses=args.pulses, frequency=args.frequency, bridgeAddress=args.bridge,
                    bridgeLayout=args.layout, directory=directory)
    settings = Settings(layout=layout, seconds=args.seconds, runSeconds=args.run_seconds, broker=args.broker,
                        topic=args.topic)
    print(f"pykarabo demo: writing to {directory}", flush=True)
    try:
        with Display(live=False if args.plain else None) as display:
            outcome = asyncio.run(runDemo(settings, display))
    except KaraboError as exc:
        print(f"pykarabo demo failed: {exc}\nlog: {logPath}", file=sys.stderr)
        return 1
    shapes = "".join(f"; last {name} {shape}" for name, shape in outcome.clientShapes.items())
    print(f"Bridge endpoint used: {outcome.bridgeEndpoint}; the demo's client received "
          f"{outcome.clientReceived} trains{shapes}")
    if not outcome.runDirectory:
        print(f"No run was recorded. Log: {logPath}")
        return 1
    runDirectory = Path(outcome.runDirectory)
    print(f"Run directory: {runDirectory} ({outcome.trainsWritten} trains written)")
    valid, message = validateRun(runDirectory)
    print(f"Validation: {message}")
    for line in describeRun(runDirectory):
        print(f"  {line}")
    print(f"Log: {logPath}")
    print(f"Read it back: python3 -c \"import extra_data; extra_data.RunDirectory('{runDirectory}').info()\"")
    return 1 if valid is False else 0
