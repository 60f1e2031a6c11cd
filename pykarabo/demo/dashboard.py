"""How a ``Status`` is shown: a rich dashboard on a terminal, one plain line per update elsewhere (logs, CI)."""

from __future__ import annotations

import sys
import time
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from pykarabo.demo.status import Status

__all__ = ["Display", "render", "statusLine"]

LINE_EVERY = 2.0   # seconds between plain status lines

# Colours of Karabo's state families, as its GUI shows them.
_STATE_STYLE = {"ON": "green", "ACTIVE": "green", "ACQUIRING": "bold green", "MOVING": "blue", "OFF": "grey50",
                "INIT": "yellow", "UNKNOWN": "magenta", "ERROR": "bold red"}


def render(status: Status) -> Group:
    """The dashboard: devices and states, trains through each stage, the bridge and the DAQ."""
    devices = Table(title="Devices", expand=True)
    for column in ("device", "what", "state", "doing"):
        devices.add_column(column)
    for row in status.devices:
        devices.add_row(row.deviceId, row.role, Text(row.state, style=_STATE_STYLE.get(row.state, "")), row.detail)

    flows = Table(title="Data path")
    flows.add_column("stage")
    flows.add_column("trains", justify="right")
    flows.add_column("trains/s", justify="right")
    for flow in status.flows:
        flows.add_row(flow.stage, str(flow.trains), f"{flow.rate:.1f}")

    shapes = ", ".join(f"{name} {shape}" for name, shape in status.clientShapes.items()) or "nothing yet"
    bridge = (f"endpoint [bold]{status.bridgeEndpoint}[/]  (try: pykarabo bridge glimpse {status.bridgeEndpoint})\n"
              f"demo client received {status.clientReceived} trains; last: {shapes}")
    daq = (f"{status.daqState}: {status.daqTrains} trains written, {status.daqMBps:.0f} MB/s\n"
           f"run {status.runDirectory or '(not started)'}  {status.currentFile}")
    parts = [devices, flows, Panel(bridge, title="Karabo Bridge"), Panel(daq, title="DAQ")]
    parts += [Text(note, style="bold red") for note in status.notes]
    footer = f"pykarabo demo — {status.elapsed:.0f} s — Ctrl-C stops"
    return Group(*parts, Text(footer, style="dim"))


def statusLine(status: Status) -> str:
    """One line with the same figures, for output that is not a terminal."""
    flows = " | ".join(f"{f.stage} {f.trains} ({f.rate:.1f}/s)" for f in status.flows)
    states = " ".join(f"{row.deviceId}={row.state}" for row in status.devices)
    line = (f"[{status.elapsed:6.1f} s] trains: {flows} | bridge client received {status.clientReceived} | "
            f"DAQ {status.daqState} trains written {status.daqTrains} | states: {states}")
    return line + "".join(f" | {note}" for note in status.notes)


class Display:
    """Where the demo reports: a live dashboard on a terminal, else messages and status lines on stdout.

    Use it as a context manager around the demo; ``refresh`` is how often ``update`` wants a new status.
    """

    def __init__(self, live: bool | None = None) -> None:
        self.live = sys.stdout.isatty() if live is None else live
        self.refresh = 0.25 if self.live else 0.5
        self._console = Console()
        self._live: Live | None = None
        self._nextLine = 0.0

    def __enter__(self) -> Display:
        if self.live:
            self._live = Live(console=self._console, refresh_per_second=4, redirect_stderr=True)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)
            self._live = None

    def message(self, text: str) -> None:
        """A one-off message (printed above the dashboard on a terminal)."""
        if self._live is not None:
            self._console.print(text, highlight=False, markup=False)
        else:
            print(text, flush=True)

    def update(self, status: Status, final: bool = False) -> None:
        """Show ``status``: redraw the dashboard, or print a status line every ``LINE_EVERY`` seconds
        (and the ``final`` one)."""
        if self._live is not None:
            self._live.update(render(status))
            return
        now = time.monotonic()
        if final or now >= self._nextLine:
            self._nextLine = now + LINE_EVERY
            print(statusLine(status), flush=True)
