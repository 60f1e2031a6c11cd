"""The imaging example (camera → averager, driven by a macro): in one loop, and on a ``pykarabo server``
subprocess driven by the blocking scripting functions from a thread, as a script or the shell would."""

import asyncio
import json
import os
import signal
import subprocess
import sys

import pytest

from examples.imaging import AcquisitionMacro, ImageAverager, SimulatedCamera
from pykarabo.errors import KaraboError, KaraboTimeoutError
from pykarabo.middlelayer import (State, call, callNoWait, connectDevice, disconnectDevice, execute, executeNoWait,
                                  findDevices, findServers, getClasses, getClassSchema, getConfiguration, getDevice,
                                  getDevices, getInstanceInfo, getOutputChannelInfo, getProperties, getSchema,
                                  getServers, getSystemInfo, getTimeInfo, getTopology, instantiate, instantiateNoWait,
                                  isAlive, lock, setNoWait, setWait, shutdown, shutdownNoWait, updateDevice, waitUntil,
                                  waitUntilNew, waitWhile)
from tests.karabo_env import REPO
from tests.polling import pollUntil

CAMERA, AVERAGER, MACRO = "SIM/CAM/1", "SIM/AVG/1", "SIM/ACQ/1"
SERVER = "IMAGING_SERVER"


def test_macro_acquires_through_the_pipeline(bus):
    async def test():
        camera = await bus.start(SimulatedCamera({"deviceId": CAMERA, "frameRate": 200.0}))
        averager = await bus.start(ImageAverager({"deviceId": AVERAGER,
                                                  "input.connectedOutputChannels": [f"{CAMERA}:output"]}))
        await bus.start(AcquisitionMacro({"deviceId": MACRO, "frames": 4}))
        await camera.output.waitForInputs(1, timeout=10)
        macro = await connectDevice(MACRO)
        printed: list[str] = []

        async def collect():   # `print` holds what was printed since its last publication, as in Karabo
            while True:
                await waitUntilNew(macro.print)
                printed.append(macro.print.value)   # re-armed before the loop runs again: no update missed
        collector = asyncio.ensure_future(collect())
        await macro.acquire()
        assert macro.state == State.PASSIVE and camera.state == State.ON
        assert macro.result > 100.0                                    # noise floor plus the spot
        await waitUntil(lambda: "done: mean intensity" in "".join(printed), timeout=5)
        collector.cancel()
        assert "".join(printed).startswith("acquiring 4 frames from SIM/CAM/1\n")
        assert macro.doNotCompressEvents == len(printed)
        await waitUntil(lambda: averager.streamsEnded == 1, timeout=5)
        assert averager.framesAveraged == 0 and averager.lastFrame >= 3   # the end of stream reset it
    bus.run(test, timeout=40)


def _waitFor(condition) -> bool:
    return pollUntil(condition, 30)


def _script() -> None:
    """Every scripting function, blocking, against the devices of the server subprocess."""
    assert _waitFor(lambda: {CAMERA, AVERAGER} <= set(getDevices()) and getTopology().has(f"macro.{MACRO}"))
    assert MACRO not in getDevices()                 # macros are listed apart, as in Karabo's topology
    assert SERVER in getServers() and findServers("imaging") == [SERVER]
    assert set(getClasses(SERVER)) >= {"SimulatedCamera", "ImageAverager", "AcquisitionMacro"}
    assert getClassSchema(SERVER, "ImageAverager").has("nFrames")
    assert sorted(findDevices("sim/")) == sorted([CAMERA, AVERAGER])
    assert getTopology()["device"].has(CAMERA) and getDevices(SERVER, matchPattern="CAM") == [CAMERA]
    assert getInstanceInfo(MACRO)["type"] == "macro" and getInstanceInfo(CAMERA)["serverId"] == SERVER
    assert getTimeInfo(CAMERA).has("time") and getSystemInfo(CAMERA).has("user")
    assert getOutputChannelInfo(CAMERA, "output")["connectionType"] == "tcp"
    assert getSchema(CAMERA).has("frameRate") and not getSchema(CAMERA, True).has("stop")
    assert getProperties(CAMERA, ["frameRate"])["frameRate"] == 50.0

    averager = connectDevice(AVERAGER)
    macro = connectDevice(MACRO)
    setWait(AVERAGER, nFrames=20)
    assert averager.nFrames == 20
    with pytest.raises(KaraboError, match="out of upper bound 1000"):
        averager.nFrames = 5000
    with pytest.raises(KaraboError, match='unexpected configuration parameter: "framesAveraged"'):
        setWait(averager, "framesAveraged", 3)
    setNoWait(CAMERA, "frameRate", 100.0)
    camera = getDevice(CAMERA)                       # a snapshot, updated on request
    # polled: a waitUntil condition may only read proxies, never ask the bus
    assert _waitFor(lambda: getConfiguration(CAMERA)["frameRate"] == 100.0)
    assert updateDevice(camera).frameRate == 100.0

    execute(MACRO, "acquire")                        # blocks until the macro is done
    assert macro.state == State.PASSIVE and "done: mean intensity" in macro.print
    with getDevice(CAMERA) as scoped:
        executeNoWait(scoped, "start")
        waitUntil(lambda: scoped.state == State.ACQUIRING, timeout=10)
        waitUntilNew(averager.lastFrame, timeout=10)
        waitWhile(lambda: averager.framesAveraged < 3, timeout=10)
        with pytest.raises(KaraboTimeoutError, match="condition not met within 0.3 s"):
            waitUntil(lambda: scoped.state == State.ERROR, timeout=0.3)
        callNoWait(CAMERA, "stop")
        waitUntil(lambda: scoped.state == State.ON, timeout=10)
    waitUntil(lambda: averager.streamsEnded == 2, timeout=10)
    with lock(averager):
        assert getConfiguration(AVERAGER)["lockedBy"] == averager._host.instanceId
    assert call(CAMERA, "slotGetOutputChannelNames") == ["output"]
    assert call(CAMERA, "slotGetOutputChannelNames", wait=False).result(10) == ["output"]   # a Future

    assert instantiate(SERVER, "SimulatedCamera", "SIM/CAM/2", frameRate=5.0) == "SIM/CAM/2"
    second = connectDevice("SIM/CAM/2")
    assert second.frameRate == 5.0 and second.serverId == SERVER
    assert shutdown(second) is True
    waitUntil(lambda: not isAlive(second), timeout=10)
    instantiateNoWait(SERVER, "SimulatedCamera", "SIM/CAM/3")
    assert _waitFor(lambda: "SIM/CAM/3" in getDevices())
    shutdownNoWait("SIM/CAM/3")
    assert _waitFor(lambda: "SIM/CAM/3" not in getDevices())
    disconnectDevice(averager)


def test_scripting_functions_drive_a_server_subprocess_from_a_thread(bus, tmp_path):
    init = {CAMERA: {"classId": "SimulatedCamera"},
            AVERAGER: {"classId": "ImageAverager", "input.connectedOutputChannels": [f"{CAMERA}:output"]},
            MACRO: {"classId": "AcquisitionMacro", "frames": 3}}
    log = open(tmp_path / "server.log", "w+")

    async def test():
        server = subprocess.Popen([sys.executable, "-m", "pykarabo", "server", "--broker", bus.url, "--topic",
                                   bus.topic, "--plugins", "examples.imaging", "--id", SERVER, "--init",
                                   json.dumps(init)], cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)),
                                  stdout=log, stderr=subprocess.STDOUT)
        try:
            await asyncio.to_thread(_script)
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(server.wait, 20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    try:
        bus.run(test, timeout=120)
    except BaseException:
        log.seek(0)
        print(log.read()[-3000:])
        raise
    finally:
        log.close()
