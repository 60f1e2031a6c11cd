"""The device server: in-process on the embedded broker, plugin discovery, and the ``pykarabo server`` CLI."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from examples.bound_detector import BoundDetectorModule
from examples.motor import SimulatedMotor
from pykarabo.errors import KaraboError
from pykarabo.middlelayer import (State, configureClient, connectDevice, execute, getClasses, getClassSchema,
                                  getDevices, getServers, instantiate, shutdown, waitUntil)
from pykarabo.middlelayer import call as callSlot
from pykarabo.middlelayer.proxy import stopClient
from pykarabo.middlelayer.synchronization import eventLoop
from pykarabo.server import DeviceServer, discoverClasses, loadPlugin
from tests.middlelayer.bus import Bus
from tests.server.plugin_devices import Recorder

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def bus():
    return Bus()


def test_server_starts_and_kills_devices(bus, tmp_path):
    marker = tmp_path / "marker"

    async def test():
        server = DeviceServer("TEST_SERVER", {"Recorder": Recorder, "SimulatedMotor": SimulatedMotor},
                              broker=bus.url, topic=bus.topic,
                              init={"TEST/REC/1": {"classId": "Recorder", "markerFile": str(marker)}})
        await server.start()
        try:
            assert await getServers() == ["TEST_SERVER"]
            assert await getClasses("TEST_SERVER") == ["Recorder", "SimulatedMotor"]
            assert "TEST/REC/1" in server.devices
            assert (await getClassSchema("TEST_SERVER", "Recorder")).has("markerFile")
            deviceId = await instantiate("TEST_SERVER", "SimulatedMotor", velocity=5.0)
            assert deviceId == "TEST_SERVER_SimulatedMotor_1"
            motor = await connectDevice(deviceId)
            assert motor.velocity == 5.0 and motor.serverId == "TEST_SERVER" and motor.state == State.ON
            with pytest.raises(KaraboError, match="already running/starting on this server"):
                await instantiate("TEST_SERVER", "Recorder", "TEST/REC/1")
            with pytest.raises(KaraboError, match="not available"):
                await instantiate("TEST_SERVER", "Nope", "TEST/NOPE/1")
            with pytest.raises(KaraboError, match="out of upper bound"):
                await instantiate("TEST_SERVER", "SimulatedMotor", "TEST/BAD/1", velocity=1000.0)
            assert await shutdown(deviceId)
            await waitUntil(lambda: deviceId not in server.devices, timeout=5)
            assert sorted(await getDevices("TEST_SERVER")) == ["TEST/REC/1"]
            assert await callSlot("TEST_SERVER", "slotKillServer") == "TEST_SERVER"
            await asyncio.wait_for(server._stopped.wait(), 10)
            assert server.devices == {} and marker.read_text() == "destroyed"
        finally:
            await server.stop()
    bus.run(test, timeout=40)


def test_server_hosts_bound_devices(bus):
    async def test():
        server = DeviceServer("BOUND_SERVER", {"BoundDetectorModule": BoundDetectorModule}, broker=bus.url,
                              topic=bus.topic, init={"TEST/DET/1": {"classId": "BoundDetectorModule", "pulses": 16}})
        await server.start()
        try:
            assert await getClasses("BOUND_SERVER") == ["BoundDetectorModule"]
            assert (await getClassSchema("BOUND_SERVER", "BoundDetectorModule")).has("frequency")
            detector = await connectDevice("TEST/DET/1")
            assert detector.pulses == 16 and detector.classId == "BoundDetectorModule"
            deviceId = await instantiate("BOUND_SERVER", "BoundDetectorModule", frequency=2.0)
            assert (await connectDevice(deviceId)).frequency == 2.0
            assert await shutdown(deviceId)
            await waitUntil(lambda: deviceId not in server.devices, timeout=10)
            assert await callSlot("BOUND_SERVER", "slotKillServer") == "BOUND_SERVER"
            await asyncio.wait_for(server._stopped.wait(), 20)
            assert server.devices == {}
        finally:
            await server.stop()
    bus.run(test, timeout=60)


def test_plugins_are_found_through_entry_points_and_specs(tmp_path, monkeypatch):
    dist = tmp_path / "fake_plugins-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-plugins\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(textwrap.dedent("""\
        [pykarabo.device]
        Recorder = tests.server.plugin_devices:Recorder
        [karabo.middlelayer_device]
        Foreign = tests.server.plugin_devices:NotADevice
        Missing = no_such_module:Thing
        [karabo.bound_device]
        Detector = examples.bound_detector:BoundDetectorModule
        """))
    monkeypatch.syspath_prepend(str(tmp_path))
    classes = discoverClasses(["pykarabo.device", "karabo.middlelayer_device", "karabo.bound_device"])
    assert classes["Recorder"] is Recorder and "Foreign" not in classes and "NotADevice" not in classes
    assert classes["BoundDetectorModule"] is BoundDetectorModule     # bound classes go by their class id
    assert loadPlugin("examples.motor") == [loadPlugin("examples.motor:SimulatedMotor")[0],
                                            loadPlugin("examples.motor:ScanMacro")[0]]
    with pytest.raises(ValueError, match="no pykarabo device class"):
        loadPlugin("tests.server.plugin_devices:NotADevice")
    with pytest.raises(ValueError, match="cannot load plugin"):
        loadPlugin("no_such_module")


def _serverProcess(bus, *args):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen([sys.executable, "-m", "pykarabo", "server", "--broker", bus.url, "--topic", bus.topic,
                             *args], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_cli_server_in_a_subprocess_stops_cleanly_on_sigterm(bus, tmp_path):
    marker = tmp_path / "marker"
    init = {"CLI/REC/1": {"classId": "Recorder", "markerFile": str(marker)},
            "SIM/MOTOR/1": {"classId": "SimulatedMotor"}}
    proc = _serverProcess(bus, "--plugins", "tests.server.plugin_devices,examples.motor", "serverId=CLI_SERVER",
                          f"init={json.dumps(init)}", "log.level=DEBUG")
    configureClient(bus.url, bus.topic)
    try:
        assert _waitForDevice("CLI/REC/1")
        recorder = connectDevice("CLI/REC/1")
        assert recorder.state == State.ON
        execute(recorder, "hit")
        assert recorder.hits == 1
        # the ported example's own script drives the motor hosted by the server
        script = subprocess.run([sys.executable, "-m", "examples.motor", "SIM/MOTOR/1"], cwd=REPO, timeout=60,
                                env=dict(os.environ, PYTHONPATH=str(REPO), KARABO_BROKER=bus.url,
                                         KARABO_BROKER_TOPIC=bus.topic), capture_output=True, text=True)
        assert script.returncode == 0, script.stderr
        assert "SIM/MOTOR/1 reached 1.000 m" in script.stdout and "reached 0.000 m" in script.stdout
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=20)
        assert proc.returncode == 0, output
        assert marker.read_text() == "destroyed"
        assert "device CLI/REC/1 (Recorder) is up" in output and "server CLI_SERVER stopped" in output
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        asyncio.run_coroutine_threadsafe(stopClient(), eventLoop()).result(10)


def _waitForDevice(deviceId: str) -> bool:
    """Poll the topology until ``deviceId`` appears (the server needs a few seconds to start)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if deviceId in getDevices():
            return True
        time.sleep(0.2)
    return False


def test_cli_rejects_bad_settings():
    env = dict(os.environ, PYTHONPATH=str(REPO))
    for args, message in ((["colour=red"], "unknown setting 'colour=red'"),
                          (["--plugins", "no_such_module"], "cannot load plugin"),
                          (["init=[1, 2]"], "init must be a JSON object"),
                          (["--plugins", "examples.motor", "deviceClasses=Nope"], "device classes not found: Nope")):
        result = subprocess.run([sys.executable, "-m", "pykarabo", "server", *args], cwd=REPO, env=env,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 2 and message in result.stderr, result.stderr
