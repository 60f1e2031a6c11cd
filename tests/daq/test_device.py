"""The DAQ devices (middlelayer ``DaqWriter`` and bound ``BoundDaqWriter``) on the embedded broker.

Each records a middlelayer camera and the bound detector module example (pipeline outputs) and a
middlelayer sensor (control device whose property changes at given trains); the run must pass
``extra-data-validate`` and read back through ``extra_data`` exactly as sent.
"""

from __future__ import annotations

import asyncio
import resource
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest

from examples.bound_detector import FIRST_TRAIN, BoundDetectorModule
from pykarabo import Hash
from pykarabo.bound import startDevice
from pykarabo.daq.bound_device import BoundDaqWriter
from pykarabo.daq.mdl_device import DaqWriter
from pykarabo.middlelayer import (AccessMode, Configurable, Device, Double, NDArray, OutputChannel, Slot, State,
                                  String, UInt16, UInt32, Unit, call, connectDevice, execute, setWait, slot,
                                  waitUntil)
from pykarabo.middlelayer.values import wrap
from pykarabo.timestamp import Epochstamp, Timestamp
from tests.middlelayer.bus import Bus

from .conftest import validate

extra_data = pytest.importorskip("extra_data", reason="runs are read back with extra-data (test extra)")

N = 12            # trains sent by each output
SKIPPED = 5       # the camera sends nothing for this train
PULSES = 2        # frames per detector train
CHANGES = {3: 1.5, 7: 2.5}   # train offset -> sensor value from that train on


class Frame(Configurable):
    image = NDArray(dtype=UInt16, shape=(4, 6))
    count = UInt32(defaultValue=0)


class Camera(Device):
    """Sends N trains (train IDs from FIRST_TRAIN on, SKIPPED left out) and end-of-stream."""

    output = OutputChannel(Frame)

    @Slot(displayedName="Acquire")
    async def acquire(self):
        for i in range(N):
            if i == SKIPPED:
                continue
            self.output.schema.count = i
            self.output.schema.image = np.full((4, 6), i, np.uint16)
            await self.output.writeData(Timestamp(Epochstamp(), FIRST_TRAIN + i))
        await self.output.writeEndOfStream()


class Sensor(Device):
    """A control device; ``setAt`` stamps a new value with a train ID, as a time server would."""

    value = Double(displayedName="Value", unitSymbol=Unit.METER, description="what the sensor reads",
                   accessMode=AccessMode.READONLY, defaultValue=0.5)
    label = String(displayedName="Label", defaultValue="first")

    @slot
    def setAt(self, value, trainId):
        self.value = wrap(float(value), Timestamp(Epochstamp(), int(trainId)))

    async def onInitialization(self):
        self.state = State.ON


def _detectorFrames() -> list[np.ndarray]:
    """The frames the bound detector example cycles through (same seed, same order)."""
    rng = np.random.default_rng(0)
    return [rng.integers(0, 16384, size=(PULSES, 512, 128), dtype=np.uint16) for _ in range(4)]


async def _startRun(bus: Bus, cls: type, config: dict):
    """Start a DAQ device of either API, wait until its input is connected and start a run; returns the
    device and a proxy of it."""
    if cls is DaqWriter:
        device = await bus.start(DaqWriter(config))
    else:
        loop = asyncio.get_running_loop()
        device = await loop.run_in_executor(None, lambda: startDevice(cls, config, broker=bus.url, topic=bus.topic))
        bus.bound.append(device)
    daq = await connectDevice(config["deviceId"])
    await waitUntil(lambda: daq.state == State.ON and len(daq.input.missingConnections) == 0, timeout=15)
    await execute(config["deviceId"], "startRun")
    return device, daq


async def _killBound(bus: Bus) -> None:
    """Kill the bound devices started on ``bus`` (the middlelayer ones go with the bus)."""
    loop = asyncio.get_running_loop()
    for device in bus.bound:
        await loop.run_in_executor(None, device.slotKillDevice)


def _record(cls: type, tmp_path, prefix: str) -> dict:
    """Record one run of the camera, the detector and the sensor; returns the DAQ's final values."""
    bus = Bus()
    bus.bound = []
    daqId, camId, detId, sensorId = (f"{prefix}/{n}" for n in ("DAQ", "CAM", "DET", "SENSOR"))

    async def test():
        loop = asyncio.get_running_loop()
        await bus.start(Camera({"deviceId": camId}))
        await bus.start(Sensor({"deviceId": sensorId}))
        det = await loop.run_in_executor(None, lambda: startDevice(
            BoundDetectorModule, {"deviceId": detId, "pulses": PULSES, "frequency": 0.0, "numTrains": N},
            broker=bus.url, topic=bus.topic))
        bus.bound.append(det)
        try:
            _, daq = await _startRun(bus, cls, {
                "deviceId": daqId, "input.connectedOutputChannels": [f"{camId}:output", f"{detId}:output"],
                "input.onSlowness": "wait", "controlDevices": [sensorId], "directory": str(tmp_path),
                "runNumber": 5, "proposal": 900001, "maxWait": 5.0, "flushInterval": 0.2, "trainsPerFile": 5})
            assert daq.state == State.ACQUIRING and daq.runDirectory == str(tmp_path / "r0005")
            for offset, value in CHANGES.items():   # stamped for trains still to come: they wait for them
                await call(sensorId, "setAt", value, FIRST_TRAIN + offset)
            await setWait(sensorId, label="second")  # no train ID: from the next train on
            await asyncio.sleep(0.5)                 # the updates reach the DAQ before the first train
            await execute(camId, "acquire")
            await execute(detId, "start")
            await waitUntil(lambda: daq.trainsWritten == N, timeout=20)
            await execute(daqId, "stopRun")
            assert daq.state == State.ON and daq.runNumber == 6
            return {k: getattr(daq, k).value for k in ("trainsWritten", "droppedTrains", "incompleteTrains",
                                                       "currentFile", "status")}
        finally:
            await _killBound(bus)
    return bus.run(test, timeout=60)


def _checkRun(run_dir, prefix: str) -> None:
    validate(run_dir)
    run = extra_data.RunDirectory(run_dir)
    tids = [FIRST_TRAIN + i for i in range(N)]
    assert list(run.train_ids) == tids
    cam, det, sensor = f"{prefix}/CAM:output", f"{prefix}/DET:output", f"{prefix}/SENSOR"
    assert set(run.instrument_sources) == {cam, det} and set(run.control_sources) == {sensor}
    sent = [i for i in range(N) if i != SKIPPED]
    assert run[cam, "data.count"].data_counts().tolist() == [int(i != SKIPPED) for i in range(N)]
    assert run[cam, "data.count"].ndarray().tolist() == sent
    np.testing.assert_array_equal(run[cam, "data.image"].ndarray(), [np.full((4, 6), i, np.uint16) for i in sent])
    frames = _detectorFrames()
    assert run[det, "image.data"].data_counts().tolist() == [PULSES] * N
    np.testing.assert_array_equal(run[det, "image.data"].ndarray(), np.concatenate([frames[t % 4] for t in tids]))
    assert run[det, "image.cellId"].ndarray().tolist() == list(range(PULSES)) * N
    np.testing.assert_array_equal(run[det, "image.pulseId"].ndarray(),
                                  np.concatenate([np.arange(t * 1000, t * 1000 + PULSES) for t in tids]))
    assert run[det, "data.trainId"].ndarray().tolist() == tids
    values = [next((v for o, v in sorted(CHANGES.items(), reverse=True) if i >= o), 0.5) for i in range(N)]
    assert run[sensor, "value"].ndarray().tolist() == values
    assert run[sensor, "label"].ndarray().tolist() == ["second"] * N
    assert run[sensor].run_value("value") == 0.5 and run[sensor].run_value("label") == "first"
    assert run[sensor, "value"].units == "m" and run[sensor].device_class == "Sensor"
    assert np.all(np.diff(run[sensor, "value.timestamp"].ndarray().astype(np.int64)) >= 0)
    assert len(list(run_dir.glob("RAW-*.h5"))) == 3 and not list(run_dir.glob("*.part"))   # 5 trains per file
    return run


@pytest.fixture(scope="module", params=[DaqWriter, BoundDaqWriter], ids=["middlelayer", "bound"])
def recorded(request, tmp_path_factory):
    """One run recorded by each DAQ device: (run directory, source prefix, the DAQ's final values)."""
    tmp_path = tmp_path_factory.mktemp("daq")
    prefix = f"DAQT{request.param.__name__}"
    return tmp_path / "r0005", prefix, _record(request.param, tmp_path, prefix)


def test_device_records_pipelines_and_properties(recorded):
    run_dir, prefix, final = recorded
    assert final["trainsWritten"] == N and final["droppedTrains"] == 0 and final["incompleteTrains"] == 0
    assert final["currentFile"] == "RAW-R0005-DA01-S00002.h5" and "12 trains in 3 files" in final["status"]
    _checkRun(run_dir, prefix)


def test_device_run_reads_through_overview_file(recorded, tmp_path):
    run_dir, prefix, _ = recorded
    copy = tmp_path / "r0005"
    shutil.copytree(run_dir, copy)
    subprocess.run([sys.executable, "-m", "extra_data.voview", str(copy)], check=True, capture_output=True,
                   timeout=120)
    run = _checkRun(copy, prefix)
    assert [f.filename for f in run.files] == [str(copy / "overview.h5")]


def test_serve_files_streams_device_run(recorded):
    run_dir, prefix, _ = recorded
    _checkServeFiles(run_dir, f"{prefix}/DET:output")


def _checkServeFiles(run_dir, source: str) -> None:
    """``karabo-bridge-serve-files`` (extra-data's streamer) sends the recorded trains to a bridge client."""
    karabo_bridge = pytest.importorskip("karabo_bridge", reason="the bridge client is a test extra")
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-c", "from extra_data.cli.serve_files import main; main()",
                             str(run_dir), str(port), "-z", "PUSH", "--source", source],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        client = karabo_bridge.Client(f"tcp://127.0.0.1:{port}", sock="PULL", timeout=30)
        tids = []
        for _ in range(N):
            data, meta = client.next()
            tids.append(meta[source]["timestamp.tid"])
            assert data[source]["image.data"].shape == (PULSES, 512, 128)
        assert tids == [FIRST_TRAIN + i for i in range(N)]
    finally:
        proc.kill()
        proc.wait(10)


class Ticker(Device):
    """Sends ``n`` trains of ``frames`` (64, 64) frames from train ``first`` on when asked (no data schema)."""

    output = OutputChannel()

    @slot
    async def sendTrains(self, first, n, frames=1):
        for i in range(int(n)):
            data = Hash("image.data", np.full((int(frames), 64, 64), i, np.uint16), "data.count", np.int64(i))
            await self.output.writeRawData(data, Timestamp(Epochstamp(), int(first) + i))


@pytest.mark.parametrize("cls", [DaqWriter, BoundDaqWriter], ids=["middlelayer", "bound"])
def test_vanished_directory_puts_device_in_error(cls, tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(f"{cls.__module__}.REQUEST_TIMEOUT", 0.5)
    bus = Bus()
    bus.bound = []
    prefix = f"DAQE{cls.__name__}"
    daqId, tickId = f"{prefix}/DAQ", f"{prefix}/TICK"

    async def test():
        await bus.start(Ticker({"deviceId": tickId}))
        try:
            _, daq = await _startRun(bus, cls, {"deviceId": daqId,
                                                "input.connectedOutputChannels": [f"{tickId}:output"],
                                                "input.onSlowness": "wait", "directory": str(tmp_path),
                                                "trainsPerFile": 2})
            await call(tickId, "sendTrains", 100, 3)
            await waitUntil(lambda: daq.trainsWritten == 3, timeout=10)
            (tmp_path / "r0001").rename(tmp_path / "moved")
            await call(tickId, "sendTrains", 103, 3)
            await waitUntil(lambda: daq.state == State.ERROR, timeout=10)
            assert "Run 1 stopped" in daq.status and "closed files are intact" in daq.status
            await execute(daqId, "reset")
            assert daq.state == State.ON
            # a base directory that cannot be created: the run does not start, the caller is told why
            (tmp_path / "plain_file").write_text("")
            await setWait(daqId, directory=str(tmp_path / "plain_file" / "sub"))
            with pytest.raises(Exception, match="cannot create run directory"):
                await execute(daqId, "startRun")
            assert daq.state == State.ON and "not started" in daq.status
            # a control device that does not answer: named in the error, no run directory is made
            await setWait(daqId, directory=str(tmp_path / "other"), controlDevices=["NO/SUCH/DEVICE"])
            with pytest.raises(Exception, match="NO/SUCH/DEVICE did not answer"):
                await execute(daqId, "startRun")
            assert daq.state == State.ON and not (tmp_path / "other").exists()
        finally:
            await _killBound(bus)
    with caplog.at_level("ERROR"):
        bus.run(test, timeout=60)
    assert "run 1 stopped" in caplog.text
    moved = tmp_path / "moved"
    validate(moved)   # the closed sequence file; the abandoned part file is not a run file
    assert list(extra_data.RunDirectory(moved).train_ids) == [100, 101]


@pytest.mark.parametrize("cls", [DaqWriter, BoundDaqWriter], ids=["middlelayer", "bound"])
def test_disk_full_puts_device_in_error(cls, tmp_path, caplog):
    """Files may not grow beyond 400 kB (RLIMIT_FSIZE: writes fail like on a full disk): the second
    sequence file outgrows it; the device goes to ERROR, the first file stays valid."""
    bus = Bus()
    bus.bound = []
    prefix = f"DAQF{cls.__name__}"
    daqId, tickId = f"{prefix}/DAQ", f"{prefix}/TICK"

    async def test():
        await bus.start(Ticker({"deviceId": tickId}))
        try:
            _, daq = await _startRun(bus, cls, {"deviceId": daqId,
                                                "input.connectedOutputChannels": [f"{tickId}:output"],
                                                "input.onSlowness": "wait", "directory": str(tmp_path),
                                                "trainsPerFile": 4})
            await call(tickId, "sendTrains", 100, 4, 2)      # 64 kB per train: the first file stays small
            await waitUntil(lambda: daq.trainsWritten == 4, timeout=10)
            await call(tickId, "sendTrains", 104, 4, 20)     # 160 kB per train: the second file cannot hold it
            await waitUntil(lambda: daq.state == State.ERROR, timeout=10)
            assert "Run 1 stopped" in daq.status and "File too large" in daq.status
        finally:
            await _killBound(bus)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # a write past the limit fails with EFBIG instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (400_000, hard))
    try:
        with caplog.at_level("ERROR"):
            bus.run(test, timeout=60)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)
    assert "run 1 stopped" in caplog.text
    run_dir = tmp_path / "r0001"
    assert [p.name for p in run_dir.glob("*.h5")] == ["RAW-R0001-DA01-S00000.h5"]
    validate(run_dir)
    run = extra_data.RunDirectory(run_dir)
    assert list(run.train_ids) == [100, 101, 102, 103]
    assert run[f"{tickId}:output", "image.data"].data_counts().tolist() == [2] * 4


def test_servers_find_both_devices():
    """Both classes are entry points of ``pykarabo.device``: every device server offers them."""
    from pykarabo.server import discoverClasses
    classes = discoverClasses()
    assert classes["DaqWriter"] is DaqWriter and classes["BoundDaqWriter"] is BoundDaqWriter
    assert set(DaqWriter.getClassSchema().getPaths()) == set(BoundDaqWriter.getSchema().getPaths())


@pytest.mark.parametrize("cls", [DaqWriter, BoundDaqWriter], ids=["middlelayer", "bound"])
def test_killing_the_device_closes_its_run(cls, tmp_path):
    """A DAQ device shut down while acquiring writes what it holds and closes the run's files."""
    bus = Bus()
    bus.bound = []
    prefix = f"DAQK{cls.__name__}"
    daqId, tickId = f"{prefix}/DAQ", f"{prefix}/TICK"

    async def test():
        loop = asyncio.get_running_loop()
        await bus.start(Ticker({"deviceId": tickId}))
        device, daq = await _startRun(bus, cls, {"deviceId": daqId,
                                                 "input.connectedOutputChannels": [f"{tickId}:output"],
                                                 "input.onSlowness": "wait", "directory": str(tmp_path)})
        await call(tickId, "sendTrains", 100, 3)
        await waitUntil(lambda: daq.trainsWritten == 3, timeout=10)
        if cls is DaqWriter:
            await device.slotKillDevice()
        else:
            await loop.run_in_executor(None, device.slotKillDevice)
    bus.run(test, timeout=60)
    run_dir = tmp_path / "r0001"
    assert [p.name for p in run_dir.iterdir()] == ["RAW-R0001-DA01-S00000.h5"]
    validate(run_dir)
    assert list(extra_data.RunDirectory(run_dir).train_ids) == [100, 101, 102]
