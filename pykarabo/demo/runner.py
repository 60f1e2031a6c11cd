"""Runs the demo: one device server with the instrument, a bridge client, a DAQ run, the dashboard, the report.

The device server, the demo's own device client (proxies of every device) and the dashboard share
one asyncio loop; bound devices run on their own threads, the bridge client on one more.  Everything
talks over the broker and the pipelines exactly as separate processes would.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import signal
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pykarabo.demo import instrument
from pykarabo.demo.dashboard import Display
from pykarabo.demo.instrument import Layout
from pykarabo.demo.probe import BridgeProbe
from pykarabo.demo.status import Collector, read
from pykarabo.errors import KaraboError
from pykarabo.middlelayer import State, configureClient, connectDevice, execute, setWait, shutdown, waitUntil
from pykarabo.middlelayer.proxy import stopClient
from pykarabo.server import DeviceServer

__all__ = ["Outcome", "Settings", "defaultDirectory", "runDemo"]

log = logging.getLogger(__name__)

START_TIMEOUT = 60.0    # seconds for pipelines to connect (slow CI machines)
SLOT_TIMEOUT = 30.0     # seconds any slot call may take before the demo carries on without it
MOTOR_TARGETS = (2.0, 0.0)
MOTOR_PAUSE = 1.0       # seconds the motor rests between moves


@dataclass(frozen=True)
class Settings:
    """The demo's options."""

    layout: Layout
    seconds: float | None    # how long data flow after start-up; None: until Ctrl-C or SIGTERM
    runSeconds: float        # length of the DAQ run
    broker: str | None
    topic: str | None


@dataclass
class Outcome:
    """What the demo leaves behind, for the final report."""

    bridgeEndpoint: str = ""
    clientReceived: int = 0
    clientShapes: dict[str, tuple] = field(default_factory=dict)
    runDirectory: str = ""
    trainsWritten: int = 0


async def runDemo(settings: Settings, display: Display) -> Outcome:
    """Start the instrument, operate it until the time is up or a signal arrives, shut it down cleanly."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def onSignal() -> None:
        stop.set()
        for sig in (signal.SIGINT, signal.SIGTERM):   # a second Ctrl-C interrupts the shutdown itself
            loop.remove_signal_handler(sig)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, onSignal)
    layout = settings.layout
    init = instrument.initConfiguration(layout)
    server = DeviceServer(instrument.SERVER, instrument.deviceClasses(), broker=settings.broker,
                          topic=settings.topic, init=init)
    configureClient(broker=settings.broker, topic=settings.topic)
    outcome = Outcome()
    proxies: dict[str, Any] = {}
    probe: BridgeProbe | None = None
    try:
        display.message(f"Starting device server {instrument.SERVER} with {len(init)} devices ...")
        if not await _unlessStopped(server.start(), stop):
            return outcome
        missing = [d for d in init if d not in server.devices]
        if missing:
            raise KaraboError(f"devices did not start: {', '.join(missing)} (see the log)")
        display.message("Devices started: " + ", ".join(f"{d} ({init[d]['classId']})" for d in init))
        for deviceId in init:
            proxies[deviceId] = await connectDevice(deviceId)
        bridge = proxies[instrument.BRIDGE]
        outcome.bridgeEndpoint = str(read(bridge, "endpoint", ""))
        if not outcome.bridgeEndpoint:
            raise KaraboError(f"the bridge is not serving: {read(bridge, 'status', '')}")
        display.message(f"Bridge endpoint: {outcome.bridgeEndpoint}   "
                        f"(pykarabo bridge glimpse {outcome.bridgeEndpoint})")
        if not await _unlessStopped(_waitConnected(proxies), stop):
            return outcome
        await execute(instrument.XGM, "start", timeout=SLOT_TIMEOUT)
        await asyncio.gather(*(execute(d, "start", timeout=SLOT_TIMEOUT) for d in instrument.detectorIds(layout)))
        display.message(f"Detector started: {layout.modules} modules of ({layout.pulses}, 512, 128) uint16 "
                        f"at {layout.frequency:g} Hz")
        probe = BridgeProbe(outcome.bridgeEndpoint).start()
        await _operate(settings, proxies, Collector(layout, proxies, probe, outcome.bridgeEndpoint), display, stop)
    finally:
        display.message("Stopping ...")
        await _shutdown(settings, server, proxies, probe, outcome)
    return outcome


async def _unlessStopped(coroutine: Any, stop: asyncio.Event) -> bool:
    """Await ``coroutine`` unless ``stop`` is set first (then it is cancelled); True if it completed."""
    work, stopped = asyncio.ensure_future(coroutine), asyncio.ensure_future(stop.wait())
    await asyncio.wait((work, stopped), return_when=asyncio.FIRST_COMPLETED)
    for task in (work, stopped):
        task.cancel()
    if work.done() and not work.cancelled():
        work.result()   # raises what it raised
        return True
    return False


async def _waitConnected(proxies: dict[str, Any]) -> None:
    """Wait until every input reached its outputs (else the first trains go nowhere)."""
    consumers = [p for p in proxies.values() if read(p, "input.connectedOutputChannels", [])]
    try:
        await waitUntil(lambda: not any(read(p, "input.missingConnections", []) for p in consumers),
                        timeout=START_TIMEOUT)
    except TimeoutError:
        waiting = {p.deviceId: list(read(p, "input.missingConnections", [])) for p in consumers}
        raise KaraboError(f"pipelines not connected after {START_TIMEOUT:g} s: {waiting}") from None


async def _operate(settings: Settings, proxies: dict[str, Any], collector: Collector, display: Display,
                   stop: asyncio.Event) -> None:
    """The demo's operator: records a run and scans the motor in the background, refreshes the display."""
    stacker, daq, motor = (proxies[d] for d in (instrument.STACKER, instrument.DAQ, instrument.MOTOR))
    # Slot calls may be slow (a loaded machine, a remote broker): the display must not wait for them.
    work = {"DAQ run": asyncio.ensure_future(_recordRun(settings, stacker, daq, display)),
            "motor scan": asyncio.ensure_future(_scanMotor(motor))}
    start = time.monotonic()
    try:
        while not stop.is_set() and (settings.seconds is None or time.monotonic() - start < settings.seconds):
            display.update(collector.status())
            try:
                await asyncio.wait_for(stop.wait(), display.refresh)
            except TimeoutError:
                pass
            for what, task in list(work.items()):
                if task.done():
                    del work[what]
                    if not task.cancelled() and task.exception() is not None:
                        log.error("%s failed: %s", what, task.exception())
                        display.message(f"{what} failed: {task.exception()}")
    finally:
        for task in work.values():
            task.cancel()
        await asyncio.gather(*work.values(), return_exceptions=True)
    display.update(collector.status(), final=True)


async def _recordRun(settings: Settings, stacker: Any, daq: Any, display: Display) -> None:
    """Start a run once the stacked trains flow, stop it ``runSeconds`` later."""
    await waitUntil(lambda: int(read(stacker, "trainsStacked", 0)) > 0)
    log.info("starting the DAQ run")
    await execute(daq, "startRun", timeout=SLOT_TIMEOUT)
    display.message(f"DAQ run started, writing to {read(daq, 'runDirectory', '')}")
    await asyncio.sleep(settings.runSeconds)
    log.info("stopping the DAQ run")
    await execute(daq, "stopRun", timeout=SLOT_TIMEOUT)
    display.message(f"DAQ run stopped: {read(daq, 'trainsWritten', 0)} trains written to "
                    f"{read(daq, 'runDirectory', '')}")


async def _scanMotor(motor: Any) -> None:
    """Move the motor back and forth, resting between moves, as a scan would."""
    for target in itertools.cycle(MOTOR_TARGETS):
        await waitUntil(lambda: read(motor, "state") == State.ON)
        await asyncio.sleep(MOTOR_PAUSE)
        log.info("moving the motor to %s", target)
        await setWait(motor, targetPosition=target)
        await execute(motor, "move", timeout=SLOT_TIMEOUT)


async def _shutdown(settings: Settings, server: DeviceServer, proxies: dict[str, Any], probe: BridgeProbe | None,
                    outcome: Outcome) -> None:
    """Stop the detectors, close the run, kill the devices; a device that does not answer is not waited for."""
    async def attempt(what: str, coroutine: Any) -> None:
        try:
            await asyncio.wait_for(coroutine, SLOT_TIMEOUT)
        except Exception as exc:   # shutting down: report and carry on with the rest
            log.warning("%s failed: %s", what, exc)

    if proxies:
        await asyncio.gather(*(attempt(f"stopping {det}", execute(det, "stop", timeout=SLOT_TIMEOUT))
                               for det in instrument.detectorIds(settings.layout)
                               if read(proxies[det], "state") == State.ON))
        daq = proxies[instrument.DAQ]
        if read(daq, "state") == State.ACQUIRING:
            await attempt("stopping the DAQ run", execute(daq, "stopRun", timeout=SLOT_TIMEOUT))
        outcome.runDirectory = str(read(daq, "runDirectory", ""))
        outcome.trainsWritten = int(read(daq, "trainsWritten", 0))
    if probe is not None:
        await asyncio.get_running_loop().run_in_executor(None, probe.stop)
        outcome.clientReceived = probe.received
        outcome.clientShapes = dict(probe.lastShapes)
    for stage in instrument.shutdownOrder(settings.layout):
        await asyncio.gather(*(attempt(f"killing {d}", _kill(server, d)) for d in stage if d in server.devices))
    await attempt("stopping the device server", server.stop())
    await attempt("stopping the demo's client", stopClient())


async def _kill(server: DeviceServer, deviceId: str) -> None:
    """Kill a device of the server and wait until it is gone."""
    await shutdown(deviceId, timeout=SLOT_TIMEOUT)
    while deviceId in server.devices:
        await asyncio.sleep(0.05)


def defaultDirectory() -> Path:
    """A fresh directory for the demo's runs and log."""
    return Path(tempfile.mkdtemp(prefix="pykarabo-demo-"))
