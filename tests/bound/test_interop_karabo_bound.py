"""Interop with Karabo 3's bound API on one RabbitMQ topic: pipeline data both ways, configuration both ways.

Karabo's bound device server (in Karabo's Python 3.12, each device a process of its own) runs the devices
of interop_devices.py built on ``karabo.bound``; this process runs the same classes built on
``pykarabo.bound``.  Data go over TCP between the processes; a ``karabo.bound.DeviceClient``
(karabo_bound_peer.py) reads and reconfigures our devices, and our devices do the same to Karabo's.
"""

import json
import os
import subprocess
from pathlib import Path

import pytest

from pykarabo import bound
from pykarabo.bound import Hash, Types, startDevice
from pykarabo.errors import KaraboTimeoutError
from pykarabo.signalslot import RemoteError
from tests.bound.interop_devices import deviceClasses, trainData
from tests.karabo_env import brokerPeer, karaboHome, require_karabo_python, serverProcess
from tests.polling import pollUntil

pytestmark = pytest.mark.karabo

PEER = Path(__file__).with_name("karabo_bound_peer.py")
TOPIC = f"boundinterop{os.getpid()}"
REAL_SERVER = "KARABO_BOUND_SERVER"
REAL_SOURCE, REAL_SINK = "REAL/SOURCE/1", "REAL/SINK/1"
OUR_SOURCE, OUR_SINK = "OUR/SOURCE/1", "OUR/SINK/1"
OUR_FIRST_TRAIN = 7000   # Karabo's source starts at the default, 1000
T = 30.0
TYPES = {"counter": "INT32", "value": "DOUBLE", "name": "STRING", "flag": "BOOL", "big": "UINT64"}

InteropSource, InteropSink = deviceClasses(bound)


def _until(condition) -> bool:
    return pollUntil(condition, T)


def _checkItems(items: list, sourceId: str, scale: float, firstTrain: int) -> None:
    """Every value, dtype, shape, Karabo type, source and train id of what a sink received."""
    assert [item["trainId"] for item in items] == [firstTrain + i for i in range(len(items))]
    for i, item in enumerate(items):
        expected = trainData(sourceId, scale, i, firstTrain)
        assert {key: item[key] for key in expected} == expected, f"item {i}"
        assert item["dtype"] == "float32" and item["shape"] == [3, 4]
        assert item["types"] == TYPES and item["source"] == f"{sourceId}:output"


@pytest.fixture(scope="module")
def karabo():
    """The Karabo interpreter, skipping when it has no bound API."""
    python = require_karabo_python()
    probe = subprocess.run([python, "-c", "import karabo.bound"], capture_output=True, text=True, check=False)
    if probe.returncode:
        pytest.skip(f"karabo.bound not importable by {python} (pip install karabo.bound==3.1.2 into that "
                    f"Python 3.12 venv): {probe.stderr.strip().splitlines()[-1]}")
    return python


@pytest.fixture(scope="module")
def ours(karabo, rabbitmq):
    """Our source and sink, hosted in this process; the sink reads Karabo's source."""
    source = startDevice(InteropSource, Hash("deviceId", OUR_SOURCE, "firstTrain", OUR_FIRST_TRAIN),
                         broker=rabbitmq.url, topic=TOPIC)
    # "wait": a sink that is busy must not lose a train (the default, "drop", may)
    sink = startDevice(InteropSink, Hash("deviceId", OUR_SINK, "input.onSlowness", "wait",
                                         "input.connectedOutputChannels", [f"{REAL_SOURCE}:output"]),
                       broker=rabbitmq.url, topic=TOPIC)
    try:
        yield source, sink
    finally:
        sink.slotKillDevice()
        source.slotKillDevice()


def _config(device, deviceId: str, timeout: float = T) -> Hash:
    """The configuration of ``deviceId``, asked by our device ``device``."""
    config, replyId = device.request(deviceId, "slotGetConfiguration").waitForReply(int(timeout * 1000))
    assert replyId == deviceId
    return config


@pytest.fixture(scope="module")
def realServer(karabo, rabbitmq, ours, tmp_path_factory):
    """Karabo's bound device server with a source and a sink reading our source, both connected."""
    source, sink = ours
    home = karaboHome(tmp_path_factory.mktemp("karabo"), "karabo.bound_device", "karabo_bound_peer",
                      ["InteropSource", "InteropSink"])
    env = dict(os.environ, KARABO=str(home), KARABO_BROKER=rabbitmq.url, KARABO_BROKER_TOPIC=TOPIC,
               PYTHONPATH=os.pathsep.join([str(home / "site"), str(PEER.parent)]))
    init = {REAL_SOURCE: {"classId": "InteropSource"},
            REAL_SINK: {"classId": "InteropSink",
                        "input": {"connectedOutputChannels": [f"{OUR_SOURCE}:output"], "onSlowness": "wait"}}}
    main = "from karabo.bound.device_server import main; main()"

    def connected() -> bool:
        # both directions: Karabo's output knows our input, our output knows Karabo's input
        try:
            table = _config(sink, REAL_SOURCE, timeout=2.0)["output.connections"]
        except KaraboTimeoutError:   # not up yet
            return False
        return [row["remoteId"] for row in table] == [f"{OUR_SINK}:input"]

    args = [f"serverId={REAL_SERVER}", "deviceClasses=InteropSource,InteropSink", f"init={json.dumps(init)}"]
    with serverProcess([karabo, "-c", main, *args], home, env, connected, T) as proc:
        sink.waitInputsConnected(T)
        source.waitForInputs("output", 1, T)
        yield proc


@pytest.fixture(scope="module")
def realClient(karabo, rabbitmq):
    """A ``karabo.bound.DeviceClient`` in Karabo's Python on the test topic."""
    with brokerPeer(karabo, PEER, "bound_interop_client", rabbitmq.url, TOPIC) as peer:
        yield peer


def test_karabo_bound_output_feeds_our_input(ours, realServer):
    source, sink = ours
    config = _config(sink, REAL_SOURCE)   # the defaults unless another test reconfigured it
    sink.items.clear()
    ends = sink.get("ends")
    sink.request(REAL_SOURCE, "send").waitForReply(int(T * 1000))
    assert _until(lambda: sink.get("ends") == ends + 1)
    _checkItems(sink.items, REAL_SOURCE, config["scale"], config["firstTrain"])
    assert len(sink.items) == config["trains"] and json.loads(sink.get("received")) == sink.items
    assert _config(sink, REAL_SOURCE)["trainsSent"] == config["trainsSent"] + config["trains"]


def test_our_output_feeds_karabo_bound_input(ours, realServer):
    source, sink = ours
    before, sent = _config(sink, REAL_SINK), source.get("trainsSent")
    sink.request(OUR_SOURCE, "send").waitForReply(int(T * 1000))
    assert _until(lambda: _config(sink, REAL_SINK)["ends"] == before["ends"] + 1)
    items = json.loads(_config(sink, REAL_SINK)["received"])[len(json.loads(before["received"])):]
    assert len(items) == source.get("trains") and source.get("trainsSent") == sent + len(items)
    _checkItems(items, OUR_SOURCE, source.get("scale"), OUR_FIRST_TRAIN)


def test_our_device_reads_and_reconfigures_karabo_bound_device(ours, realServer):
    source, sink = ours
    config = _config(sink, REAL_SOURCE)
    assert (config["classId"], config["deviceId"], config["serverId"]) == ("InteropSource", REAL_SOURCE,
                                                                            REAL_SERVER)
    assert (config["trains"], config["firstTrain"], config["scale"]) == (3, 1000, 1.0)
    assert (config.getType("trains"), config.getType("firstTrain")) == (Types.UINT32, Types.UINT64)
    schema, replyId = sink.request(REAL_SOURCE, "slotGetSchema", False).waitForReply(int(T * 1000))
    assert replyId == REAL_SOURCE
    assert schema.isAccessReconfigurable("scale") and schema.getDefaultValue("scale") == 1.0
    assert schema.getMinInc("scale") == 0.0 and schema.isAccessReadOnly("trainsSent")
    assert schema.getValueType("trains") == Types.UINT32 and schema.isCommand("send")
    assert schema.getClassId("output") == "OutputChannel" and schema.getClassId("output.schema.image") == "NDArray"
    assert schema.getValueType("output.schema.big") == Types.UINT64

    reconfigure = sink.request(REAL_SOURCE, "slotReconfigure", Hash("scale", 2.5, "trains", 2, "firstTrain", 5000))
    reconfigure.waitForReply(int(T * 1000))
    config = _config(sink, REAL_SOURCE)
    assert (config["trains"], config["firstTrain"], config["scale"]) == (2, 5000, 2.5)
    assert config.getType("trains") == Types.UINT32   # Karabo's validator converted our INT32
    with pytest.raises(RemoteError, match="trainsSent"):
        sink.request(REAL_SOURCE, "slotReconfigure", Hash("trainsSent", 7)).waitForReply(int(T * 1000))
    with pytest.raises(RemoteError, match="scale"):
        sink.request(REAL_SOURCE, "slotReconfigure", Hash("scale", -1.0)).waitForReply(int(T * 1000))
    assert _config(sink, REAL_SOURCE)["scale"] == 2.5

    # Karabo's device works with what we set
    sink.items.clear()
    ends = sink.get("ends")
    sink.request(REAL_SOURCE, "send").waitForReply(int(T * 1000))
    assert _until(lambda: sink.get("ends") == ends + 1)
    assert len(sink.items) == 2
    _checkItems(sink.items, REAL_SOURCE, 2.5, 5000)


def test_karabo_bound_client_reads_and_reconfigures_our_device(ours, realServer, realClient):
    source, sink = ours
    keys = ["classId", "deviceId", "trains", "firstTrain", "scale", "trainsSent"]
    assert realClient.ask(op="get", deviceId=OUR_SOURCE, keys=keys) == {
        "classId": "InteropSource", "deviceId": OUR_SOURCE, "trains": 3, "firstTrain": OUR_FIRST_TRAIN,
        "scale": 1.0, "trainsSent": source.get("trainsSent")}
    assert realClient.ask(op="schema", deviceId=OUR_SOURCE, keys=["scale", "trains", "trainsSent"]) == {
        "scale": {"valueType": "DOUBLE", "reconfigurable": True, "readOnly": False, "default": 1.0},
        "trains": {"valueType": "UINT32", "reconfigurable": True, "readOnly": False, "default": 3},
        "trainsSent": {"valueType": "UINT32", "reconfigurable": False, "readOnly": True, "default": 0}}

    realClient.ask(op="set", deviceId=OUR_SOURCE, key="scale", value=0.5)
    realClient.ask(op="set", deviceId=OUR_SOURCE, key="trains", value=4)
    assert (source.get("scale"), source.get("trains")) == (0.5, 4)
    assert source.getFullSchema().getValueType("trains") == Types.UINT32
    with pytest.raises(RuntimeError, match="trainsSent"):
        realClient.ask(op="set", deviceId=OUR_SOURCE, key="trainsSent", value=7)
    with pytest.raises(RuntimeError, match="scale"):
        realClient.ask(op="set", deviceId=OUR_SOURCE, key="scale", value=-1.0)
    # the client's cache follows signalChanged, which may arrive after the reply to the reconfiguration
    assert _until(lambda: realClient.ask(op="get", deviceId=OUR_SOURCE, keys=["scale", "trains"]) == {
        "scale": 0.5, "trains": 4})

    # our device works with what Karabo's client set: its data reach Karabo's sink
    before = _config(sink, REAL_SINK)
    realClient.ask(op="execute", deviceId=OUR_SOURCE, slot="send")
    assert _until(lambda: _config(sink, REAL_SINK)["ends"] == before["ends"] + 1)
    items = json.loads(_config(sink, REAL_SINK)["received"])[len(json.loads(before["received"])):]
    assert len(items) == 4
    _checkItems(items, OUR_SOURCE, 0.5, OUR_FIRST_TRAIN)
