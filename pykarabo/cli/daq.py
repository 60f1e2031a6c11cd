"""``pykarabo daq record``: record pipeline outputs into a European XFEL run directory."""

from __future__ import annotations

import argparse
import json
import sys
import time

from pykarabo.daq import DaqError, RunWriter
from pykarabo.daq.recorder import Recorder, timestampNs
from pykarabo.daq.session import POLL_INTERVAL
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
    r.add_argument("--max-wait", type=float, default=1.0,
                   help="seconds a train waits for outputs that have not sent it yet")
    r.add_argument("--flush-interval", type=float, default=10.0,
                   help="seconds between flushes of the open file (what a crash may lose)")
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

    try:
        writer = RunWriter(args.out, args.run, proposal=args.proposal, max_trains=args.max_trains,
                           format_version=args.format_version, flush_interval=args.flush_interval)
    except DaqError as e:
        print(f"pykarabo daq record: {e}", file=sys.stderr)
        return 2
    outputs = args.connect.split(",")
    recorder = Recorder(writer, maxWait=args.max_wait, pulseGroups=[g for g in args.pulse_groups.split(",") if g],
                        trainLimit=args.trains, minSources=len(outputs))
    inp = InputChannel(outputs, onSlowness="wait")
    t0 = time.monotonic()
    lastData = t0
    deadline = None if args.seconds is None else t0 + args.seconds
    progress = Progress(TextColumn("[bold]recording[/] {task.fields[run]}"), BarColumn(),
                        TextColumn("{task.completed} trains · {task.fields[mb]:.1f} MB · {task.fields[rate]:.1f} MB/s"
                                   " · {task.fields[files]} files · {task.fields[dropped]} dropped"),
                        TimeElapsedColumn(), console=Console(stderr=True), disable=args.json)
    task = progress.add_task("record", total=args.trains, run=str(writer.directory), mb=0.0, rate=0.0, files=0,
                             dropped=0)
    rc = 0
    try:
        with progress:
            while args.trains is None or recorder.trainsWritten < args.trains:
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    break
                if now - lastData >= args.timeout:
                    print(f"pykarabo daq record: no data for {args.timeout} s", file=sys.stderr)
                    rc = 1
                    break
                try:
                    x = inp.get(timeout=POLL_INTERVAL)
                except TimeoutError:
                    x = None
                if x is END_OF_STREAM:
                    break
                now = time.monotonic()
                if x is not None:
                    data, meta = x
                    lastData = now
                    recorder.addItem(_source(meta.source), meta.trainId, timestampNs(meta.sec, meta.frac), data,
                                     now)
                recorder.poll(now)
                s = writer.stats
                progress.update(task, completed=s.trains, mb=s.bytes / 1e6, rate=recorder.bytesPerSecond / 1e6,
                                files=s.files, dropped=recorder.droppedTrains)
    except DaqError as e:
        print(f"pykarabo daq record: {e}", file=sys.stderr)
        rc = 2
    finally:
        inp.close()
        files = recorder.finish()
    s = writer.stats
    summary = {"run": str(writer.directory), "trains": s.trains, "items": recorder.items, "bytes": s.bytes,
               "files": [f.name for f in files], "droppedTrains": recorder.droppedTrains,
               "incompleteTrains": recorder.incompleteTrains, "seconds": round(time.monotonic() - t0, 3)}
    if args.json:
        print(json.dumps({"summary": summary}), flush=True)
    else:
        print(f"recorded {s.trains} trains ({s.bytes / 1e6:.1f} MB) into {len(files)} files in "
              f"{writer.directory}; {recorder.droppedTrains} dropped, {recorder.incompleteTrains} incomplete",
              flush=True)
    return rc
