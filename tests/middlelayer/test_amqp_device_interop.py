"""Device-level interop on RabbitMQ, one topic: our server and Karabo 3's middlelayer server side by side.

A real middlelayer client (mdl_device_peer.py) drives the SimulatedMotor on our server (``pykarabo server``),
our middlelayer client drives a device on Karabo's ``MiddleLayerDeviceServer``, and both sides see both servers.
"""

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pykarabo.errors import KaraboError
from pykarabo.middlelayer import (State, call, configureClient, connectDevice, execute, getClasses, getDevice,
                                  getDevices, getServers, instantiate, setWait, shutdown, waitUntil)
from pykarabo.middlelayer.proxy import stopClient
from pykarabo.middlelayer.synchronization import eventLoop
from pykarabo.signalslot import RemoteError
from tests.karabo_env import REPO, brokerPeer, karaboHome, require_karabo_python, serverProcess
from tests.polling import pollUntil

pytestmark = pytest.mark.karabo

PEER = Path(__file__).with_name("mdl_device_peer.py")
TOPIC = f"devinterop{os.getpid()}"
OUR_SERVER, MDL_SERVER = "PYKARABO_SERVER", "KARABO_MDL_SERVER"
MOTOR, GREETER = "OUR/MOTOR/1", "MDL/GREETER/1"
# the pipeline: Karabo's camera -> our averager (driven by our macro); our camera -> Karabo's sink
MDL_CAMERA, MDL_SINK = "MDL/CAM/1", "MDL/SINK/1"
OUR_CAMERA, OUR_AVERAGER, OUR_MACRO = "OUR/CAM/1", "OUR/AVG/1", "OUR/ACQ/1"
T = 30.0


def _until(condition) -> bool:
    return pollUntil(condition, T)


@pytest.fixture(scope="module")
def karabo():
    """The Karabo interpreter, skipping when it has no middlelayer."""
    python = require_karabo_python()
    probe = subprocess.run([python, "-c", "import karabo.middlelayer"], capture_output=True, text=True,
                           check=False)
    if probe.returncode:
        pytest.skip(f"karabo.middlelayer not importable by {python} (pip install karabo): "
                    f"{probe.stderr.strip().splitlines()[-1]}")
    return python


@pytest.fixture(scope="module")
def client(rabbitmq):
    """Our blocking middlelayer client on the test topic."""
    configureClient(rabbitmq.url, TOPIC)
    yield
    asyncio.run_coroutine_threadsafe(stopClient(), eventLoop()).result(T)


@pytest.fixture(scope="module")
def ourServer(rabbitmq, client, tmp_path_factory):
    """``pykarabo server`` in a subprocess hosting a SimulatedMotor."""
    init = {MOTOR: {"classId": "SimulatedMotor", "velocity": 20.0},
            OUR_CAMERA: {"classId": "SimulatedCamera", "frameRate": 50.0},
            # "wait": Karabo's output drops even the end of stream for a "drop" input that is busy
            OUR_AVERAGER: {"classId": "ImageAverager", "input.connectedOutputChannels": [f"{MDL_CAMERA}:output"],
                           "input.onSlowness": "wait"},
            OUR_MACRO: {"classId": "AcquisitionMacro", "cameraId": MDL_CAMERA, "averagerId": OUR_AVERAGER,
                        "frames": 4}}
    command = [sys.executable, "-m", "pykarabo", "server", "--broker", rabbitmq.url, "--topic", TOPIC,
               "--plugins", "examples.motor,examples.imaging", "--id", OUR_SERVER, "--init", json.dumps(init)]
    with serverProcess(command, tmp_path_factory.mktemp("ours"), dict(os.environ, PYTHONPATH=str(REPO)),
                       lambda: MOTOR in getDevices(), T, cwd=REPO) as proc:
        yield proc


@pytest.fixture(scope="module")
def mdlServer(karabo, rabbitmq, client, tmp_path_factory):
    """Karabo's middlelayer server in a subprocess, finding the Greeter class through an entry point."""
    home = karaboHome(tmp_path_factory.mktemp("karabo"), "karabo.middlelayer_device", "mdl_device_peer",
                      ["Greeter", "RealCamera", "Sink"])
    env = dict(os.environ, KARABO=str(home), KARABO_BROKER=rabbitmq.url, KARABO_BROKER_TOPIC=TOPIC,
               PYTHONPATH=os.pathsep.join([str(home / "site"), str(PEER.parent)]))
    init = {GREETER: {"classId": "Greeter", "name": "pykarabo"},
            MDL_CAMERA: {"classId": "RealCamera"},
            MDL_SINK: {"classId": "Sink", "sourceId": OUR_CAMERA,
                       "input": {"connectedOutputChannels": [f"{OUR_CAMERA}:output"]}}}
    main = "import sys; from karabo.middlelayer.device_server import MiddleLayerDeviceServer as S; sys.exit(S.main())"
    args = [f"serverId={MDL_SERVER}", "deviceClasses=Greeter,RealCamera,Sink", f"init={json.dumps(init)}"]
    with serverProcess([karabo, "-c", main, *args], home, env,
                       lambda: {GREETER, MDL_CAMERA, MDL_SINK} <= set(getDevices()), T) as proc:
        yield proc


@pytest.fixture(scope="module")
def mdlClient(karabo, rabbitmq):
    """A real middlelayer client (DeviceClientBase) on the test topic."""
    with brokerPeer(karabo, PEER, "mdl_interop_client", rabbitmq.url, TOPIC) as peer:
        yield peer


def test_karabo_client_drives_a_device_on_our_server(mdlClient, ourServer):
    keys = ["state", "classId", "serverId", "velocity", "position"]
    assert mdlClient.ask(op="get", deviceId=MOTOR, keys=keys) == {
        "state": "ON", "classId": "SimulatedMotor", "serverId": OUR_SERVER, "velocity": 20.0, "position": 0.0}
    assert mdlClient.ask(op="connect", deviceId=MOTOR, keys=["velocity"]) == {"velocity": 20.0}
    mdlClient.ask(op="setWait", deviceId=MOTOR, key="velocity", value=50.0)
    with pytest.raises(RuntimeError, match="out of upper bound 100"):
        mdlClient.ask(op="setWait", deviceId=MOTOR, key="velocity", value=1000.0)
    mdlClient.ask(op="assign", deviceId=MOTOR, key="targetPosition", value=1.5)
    mdlClient.ask(op="execute", deviceId=MOTOR, slot="move")
    mdlClient.ask(op="waitFor", deviceId=MOTOR, values={"state": "ON", "position": 1.5}, timeout=T)
    assert mdlClient.ask(op="get", deviceId=MOTOR, keys=["position", "velocity"]) == {"position": 1.5,
                                                                                       "velocity": 50.0}
    assert mdlClient.ask(op="call", deviceId=MOTOR, slot="distanceTo", args=[4.0]) == {"reply": 2.5}
    with pytest.raises(RuntimeError, match='"stop" is not allowed in current state "ON"'):
        mdlClient.ask(op="execute", deviceId=MOTOR, slot="stop")


def test_our_client_drives_a_device_on_karabos_server(mdlServer):
    greeter = connectDevice(GREETER)
    assert greeter.state == State.ON and greeter.classId == "Greeter" and greeter.serverId == MDL_SERVER
    assert greeter.name == "pykarabo" and greeter.count == 0
    setWait(greeter, factor=3.0)
    assert getDevice(GREETER).factor == 3.0
    waitUntil(lambda: greeter.factor == 3.0, timeout=T)   # signalChanged may come after the reply
    greeter.name = "Karabo"
    waitUntil(lambda: greeter.name == "Karabo", timeout=T)
    execute(greeter, "greet")
    waitUntil(lambda: greeter.count == 1, timeout=T)
    assert greeter.greeting == "hello Karabo"
    greeter.greet()
    waitUntil(lambda: greeter.count == 2, timeout=T)
    assert call(GREETER, "scale", 7) == 21.0
    with pytest.raises(RemoteError, match="not in allowed range"):
        setWait(greeter, factor=-1.0)
    assert getDevice(GREETER).factor == 3.0


def test_both_servers_see_each_other(mdlClient, ourServer, mdlServer):
    assert {OUR_SERVER, MDL_SERVER} <= set(getServers())
    assert sorted(getClasses(MDL_SERVER)) == ["Greeter", "RealCamera", "Sink"]
    assert "SimulatedMotor" in getClasses(OUR_SERVER)
    assert _until(lambda: {OUR_SERVER, MDL_SERVER} <= set(mdlClient.ask(op="topology")["server"]))
    topology = mdlClient.ask(op="topology")
    ours = topology["server"][OUR_SERVER]
    assert ours["type"] == "server" and ours["lang"] == "python" and "SimulatedMotor" in ours["deviceClasses"]
    assert sorted(topology["server"][MDL_SERVER]["deviceClasses"]) == ["Greeter", "RealCamera", "Sink"]
    motor = topology["device"][MOTOR]
    assert motor["serverId"] == OUR_SERVER and motor["classId"] == "SimulatedMotor" and motor["type"] == "device"
    assert topology["device"][GREETER]["serverId"] == MDL_SERVER


def test_each_client_instantiates_on_the_other_server(mdlClient, ourServer, mdlServer):
    reply = mdlClient.ask(op="instantiate", serverId=OUR_SERVER, classId="SimulatedMotor", deviceId="OUR/MOTOR/2",
                          configuration={"velocity": 7.0})
    assert reply == {"deviceId": "OUR/MOTOR/2"}
    assert mdlClient.ask(op="get", deviceId="OUR/MOTOR/2", keys=["velocity", "serverId"]) == {
        "velocity": 7.0, "serverId": OUR_SERVER}
    with pytest.raises(RuntimeError, match="already running/starting"):
        mdlClient.ask(op="instantiate", serverId=OUR_SERVER, classId="SimulatedMotor", deviceId="OUR/MOTOR/2",
                      configuration={})
    assert mdlClient.ask(op="shutdown", deviceId="OUR/MOTOR/2") == {"ok": True}
    assert _until(lambda: "OUR/MOTOR/2" not in getDevices())

    assert instantiate(MDL_SERVER, "Greeter", "MDL/GREETER/2", name="second") == "MDL/GREETER/2"
    assert connectDevice("MDL/GREETER/2").name == "second"
    with pytest.raises(KaraboError, match="already running/starting"):
        instantiate(MDL_SERVER, "Greeter", "MDL/GREETER/2")
    assert shutdown("MDL/GREETER/2")
    assert _until(lambda: "MDL/GREETER/2" not in mdlClient.ask(op="topology")["device"])


def test_pipeline_data_and_slot_calls_between_karabo_devices_and_ours(ourServer, mdlServer):
    """Karabo's camera feeds our averager while our macro drives that camera by its slots; Karabo's sink reads
    our camera while driving it by its slots."""
    averager, macro = connectDevice(OUR_AVERAGER), connectDevice(OUR_MACRO)
    waitUntil(lambda: len(averager.input.missingConnections) == 0, timeout=T)
    execute(macro, "acquire")                        # ours -> Karabo: start, stop; Karabo -> ours: frames
    assert macro.state == State.PASSIVE and "done: mean intensity" in macro.print
    assert 200.0 <= macro.result <= 209.0            # Karabo's frames are 200 + frameNumber % 10
    waitUntil(lambda: averager.streamsEnded >= 1, timeout=T)   # Karabo's end of stream reached us
    assert averager.lastFrame >= 3 and connectDevice(MDL_CAMERA).state == State.ON

    sink, camera = connectDevice(MDL_SINK), connectDevice(OUR_CAMERA)
    execute(sink, "grab")                            # Karabo -> ours: start, stop; ours -> Karabo: frames
    waitUntil(lambda: sink.ends >= 1 and camera.state == State.ON, timeout=T)
    assert sink.received >= 5 and sink.shape == "32x48" and sink.lastFrame >= 4
    assert camera.framesSent >= sink.received
