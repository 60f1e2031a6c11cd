"""``pykarabo daq record``: record pipeline outputs into a European XFEL run directory."""

from __future__ import annotations

import argparse
import json
import sys
import time

from pykarabo.daq import DaqError, RunWriter
from pykarabo.pipeline import END_OF_STREAM, InputChannel


def register(sub) -> None:
    """Add the ``daq`` subcommand with ``record``."""
    p = sub.add_parser("daq", help="record data into EuXFEL HDF5 run directories")
    ps = p.add_subparsers(dest="daq_command", required=True)
    r = ps.add_parser("record", help="record pipeline outputs into <out>/r<run>")
    r.add_argument("--connect", required=True, metavar="HOST:PORT[,...]", help="output channels to record")
    r.add_argument("--out", required=True, help="directory in which the run directory is created")
    r.add_argument("--run", type=int, default=1, help="run number")
    r.add_argument("--proposal", type=int, default=0, help="proposal number (METADATA)")
    stop = r.add_mutually_exclusive_group()
    stop.add_argument("--trains", type=int, default=None, help="stop after N trains")
    stop.add_argument("--seconds", type=float, default=None, help="stop after S seconds")
    r.add_argument("--max-trains", type=int, default=500, help="trains per sequence file")
    r.add_argument("--format-version", choices=("1.0", "1.3"), default="1.3")
    r.add_argument("--pulse-groups", default="image",
                   help="index groups whose leading axis is the frame axis (comma separated)")
    r.add_argument("--reorder-window", type=int, default=10,
                   help="trains kept open for items of slower outputs; later items are dropped")
    r.add_argument("--timeout", type=float, default=60, help="seconds without data before giving up")
    r.add_argument("--json", action="store_true", help="print the summary as JSON, no progress display")
    r.set_defaults(func=run_record)


def _source(name: str) -> str:
    # instrument sources are DEVICE:channel; a bare name gets Karabo's default channel name
    return name if ":" in name else f"{name}:output"


def run_record(args: argparse.Namespace) -> int:
    """Record until the trains/seconds limit or the end-of-stream of every output."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    pulseGroups = tuple(g for g in args.pulse_groups.split(",") if g)
    try:
        writer = RunWriter(args.out, args.run, proposal=args.proposal, max_trains=args.max_trains,
                           format_version=args.format_version)
    except DaqError as e:
        print(f"pykarabo daq record: {e}", file=sys.stderr)
        return 2
    inp = InputChannel(args.connect.split(","), onSlowness="wait")
    pending: dict[int, dict[str, list]] = {}
    stamps: dict[int, int] = {}
    late = items = 0
    t0 = time.monotonic()
    deadline = None if args.seconds is None else t0 + args.seconds
    progress = Progress(TextColumn("[bold]recording[/] {task.fields[run]}"), BarColumn(),
                        TextColumn("{task.completed} trains · {task.fields[mb]:.1f} MB · {task.fields[files]} files"),
                        TimeElapsedColumn(), console=Console(stderr=True), disable=args.json)
    task = progress.add_task("record", total=args.trains, run=str(writer.directory), mb=0.0, files=0)

    def write_oldest() -> None:
        tid = min(pending)
        writer.write_train(tid, stamps.pop(tid), pending.pop(tid))
        progress.update(task, completed=writer.stats.trains, mb=writer.stats.bytes / 1e6,
                        files=writer.stats.files)

    rc = 0
    try:
        with progress:
            # with --trains, the last trains may miss items of outputs that lag behind
            while args.trains is None or writer.stats.trains + len(pending) < args.trains:
                if deadline is not None and time.monotonic() >= deadline:
                    break
                wait = args.timeout if deadline is None else min(args.timeout, max(0.0, deadline - time.monotonic()))
                try:
                    x = inp.get(timeout=wait)
                except TimeoutError:
                    if deadline is not None and time.monotonic() >= deadline:
                        break
                    print(f"pykarabo daq record: no data for {args.timeout} s", file=sys.stderr)
                    rc = 1
                    break
                if x is END_OF_STREAM:
                    break
                data, meta = x
                tid = meta.trainId
                items += 1
                if tid <= writer.lastTrainId:
                    late += 1
                    continue
                source = _source(meta.source)
                if source not in writer.stats.sources:
                    writer.add_instrument_source(source, pulse_groups=pulseGroups)
                pending.setdefault(tid, {}).setdefault(source, []).append(data)
                stamps.setdefault(tid, meta.sec * 1_000_000_000 + meta.frac // 1_000_000_000 or time.time_ns())
                while len(pending) > args.reorder_window:
                    write_oldest()
            while pending:
                write_oldest()
    except DaqError as e:
        print(f"pykarabo daq record: {e}", file=sys.stderr)
        rc = 2
    finally:
        inp.close()
        files = writer.close()
    s = writer.stats
    summary = {"run": str(writer.directory), "trains": s.trains, "items": items, "bytes": s.bytes,
               "files": [f.name for f in files], "lateItems": late, "rejectedTrains": s.rejectedTrains,
               "seconds": round(time.monotonic() - t0, 3)}
    if args.json:
        print(json.dumps({"summary": summary}), flush=True)
    else:
        print(f"recorded {s.trains} trains ({s.bytes / 1e6:.1f} MB) into {len(files)} files in "
              f"{writer.directory}; {late} late items dropped", flush=True)
    return rc
