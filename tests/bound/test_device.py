"""Bound devices on the embedded broker: lifecycle hooks, properties, reconfiguration, slots and signals."""

from __future__ import annotations

import threading
import time

import pytest

from pykarabo.bound import (DOUBLE_ELEMENT, INT32_ELEMENT, SLOT_ELEMENT, STRING_ELEMENT, UINT32_ELEMENT,
                            VECTOR_STRING_ELEMENT, KARABO_CLASSINFO, AlarmCondition, Epochstamp, Hash, PythonDevice,
                            State, Timestamp, Types, Worker, currentCaller, startDevice)
from pykarabo.errors import KaraboError, ValidationError
from pykarabo.signalslot import RemoteError
from tests.bound.conftest import T


@KARABO_CLASSINFO("LifeDevice", "1.2")
class LifeDevice(PythonDevice):
    @staticmethod
    def expectedParameters(expected):
        (
            STRING_ELEMENT(expected).key("greeting").assignmentOptional().defaultValue("hello")
            .allowedStates(State.OFF).reconfigurable().commit(),
            INT32_ELEMENT(expected).key("limited").assignmentOptional().defaultValue(1).maxInc(5)
            .reconfigurable().commit(),
            DOUBLE_ELEMENT(expected).key("scaled").assignmentOptional().defaultValue(0.0).reconfigurable().commit(),
            UINT32_ELEMENT(expected).key("counter").readOnly().commit(),
            VECTOR_STRING_ELEMENT(expected).key("calls").readOnly().initialValue([]).commit(),
            SLOT_ELEMENT(expected).key("start").allowedStates(State.OFF).commit(),
            SLOT_ELEMENT(expected).key("stop").allowedStates(State.ON).commit(),
            SLOT_ELEMENT(expected).key("fail").commit(),
        )

    def __init__(self, configuration):
        super().__init__(configuration)
        self.hooks: list[str] = []
        self.KARABO_SLOT(self.start)
        self.KARABO_SLOT(self.stop)
        self.KARABO_SLOT(self.fail)
        self.KARABO_SLOT(self.add, numArgs=2)
        self.KARABO_SLOT(self.whoCalls)
        self.registerSignal("signalSum", int)
        self.registerInitialFunction(lambda: self.hooks.append("first"))
        self.registerInitialFunction(self.initialization)

    def initialization(self):
        self.hooks.append("second")
        self.updateState(State.OFF)

    def start(self):
        self.updateState(State.ON)

    def stop(self):
        self.updateState(State.OFF)

    def fail(self):
        raise RuntimeError("failing on purpose")

    def add(self, a, b):
        self.emit("signalSum", a + b)
        self.reply(a + b)

    def whoCalls(self):
        return currentCaller()

    def preReconfigure(self, incoming):
        self.hooks.append("pre")
        if incoming.has("scaled"):
            incoming["scaled"] = incoming["scaled"] * 2

    def postReconfigure(self):
        self.hooks.append("post")

    def preDestruction(self):
        self.hooks.append("destruction")


def config(deviceId: str = "BOUND/LIFE/1", **extra) -> Hash:
    h = Hash("deviceId", deviceId)
    for key, value in extra.items():
        h[key] = value
    return h


def test_initial_functions_run_in_order_once_online(bus):
    device = bus.start(LifeDevice, config())
    assert device.hooks == ["first", "second"]
    assert device["state"] is State.OFF
    conf, deviceId = bus.request("BOUND/LIFE/1", "slotGetConfiguration")
    assert deviceId == "BOUND/LIFE/1"
    assert conf["classId"] == "LifeDevice" and conf["classVersion"].endswith("-1.2")
    assert conf["state"] == "OFF" and conf.getType("pid") == Types.UINT32


def test_failing_initial_function_kills_the_device(bus):
    class Broken(LifeDevice):
        def initialization(self):
            raise RuntimeError("cannot initialize")
    with pytest.raises(RuntimeError, match="cannot initialize"):
        startDevice(Broken, config("BOUND/BROKEN/1"), broker=bus.url, topic=bus.topic)
    with pytest.raises(Exception):
        bus.client.request("BOUND/BROKEN/1", "slotGetConfiguration").waitForReply(500)


def test_set_get_with_timestamps_and_typed_values(bus):
    device = bus.start(LifeDevice, config())
    stamp = Timestamp(Epochstamp(1_700_000_000, 5), 12345)
    device.set("counter", 7, stamp)
    assert device["counter"] == 7
    conf, _ = bus.request("BOUND/LIFE/1", "slotGetConfiguration")
    assert conf.getType("counter") == Types.UINT32   # a Python int is converted to the declared type
    assert Timestamp.fromHashAttributes(conf.getAttributes("counter")) == stamp
    device.setAs("counter", 8, Types.UINT32)
    assert device.getAs("counter", Types.STRING) == "8"
    with pytest.raises(ValidationError):
        device.set("counter", -1)      # does not fit UINT32: refused, nothing changed
    assert device["counter"] == 8
    device.set(counter=9, scaled=1.5)
    assert (device["counter"], device["scaled"]) == (9, 1.5)
    device.set("calls", ["a"])
    device["calls"].append("b")    # a copy: the device is unchanged
    assert list(device["calls"]) == ["a"]
    assert device.get("nothing", None) is None
    with pytest.raises(KeyError):
        device.get("nothing")


def test_set_hash_is_atomic(bus):
    device = bus.start(LifeDevice, config())
    with pytest.raises(ValidationError):
        device.set(Hash("counter", 3, "limited", 99))   # limited is out of bounds: counter stays
    assert device["counter"] == 0
    device.set(Hash("counter", 3, "limited", 4))
    assert (device["counter"], device["limited"]) == (3, 4)


def test_concurrent_writers_never_lose_updates(bus):
    device = bus.start(LifeDevice, config())
    lock = threading.Lock()

    def bump():
        for _ in range(200):
            with lock:   # read-modify-write needs the author's lock; set itself is atomic
                device.set("counter", device["counter"] + 1)
    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert device["counter"] == 800


def test_update_state_changes_instance_info_and_is_the_slot_reply(bus):
    device = bus.start(LifeDevice, config())
    assert bus.request("BOUND/LIFE/1", "start") == ("ON",)
    assert device["state"] is State.ON
    device.updateState(State.ERROR, Hash("status", "broken"))
    assert device["status"] == "broken"
    assert device._ss.core.instanceInfo["status"] == "error"
    device.setAlarmCondition(AlarmCondition.WARN)
    assert device.getAlarmCondition() is AlarmCondition.WARN


def test_reconfiguration_hooks_and_errors(bus):
    device = bus.start(LifeDevice, config())
    bus.request("BOUND/LIFE/1", "slotReconfigure", Hash("scaled", 2.0, "greeting", "hi"))
    assert device["scaled"] == 4.0 and device["greeting"] == "hi"   # preReconfigure doubled it
    assert device.hooks[-2:] == ["pre", "post"]
    assert device["lastCommand"] == f"slotReconfigure <- {bus.client.instanceId}"
    errors = [
        (Hash("counter", 1), 'unexpected configuration parameter: "counter"'),
        (Hash("nonexistent", 1), 'unexpected configuration parameter: "nonexistent"'),
        (Hash("limited", 7), 'Value 7 for parameter "limited" is out of upper bound 5'),
    ]
    for changes, message in errors:
        with pytest.raises(RemoteError, match=message):
            bus.request("BOUND/LIFE/1", "slotReconfigure", changes)
    bus.request("BOUND/LIFE/1", "start")
    with pytest.raises(RemoteError, match='unexpected configuration parameter: "greeting"'):
        bus.request("BOUND/LIFE/1", "slotReconfigure", Hash("greeting", "ho"))
    assert device["greeting"] == "hi" and device["limited"] == 1


def test_slot_guard_checks_state_and_lock(bus):
    device = bus.start(LifeDevice, config())
    with pytest.raises(RemoteError, match='Command "stop" is not allowed in current state "OFF" of device '
                                          '"BOUND/LIFE/1"'):
        bus.request("BOUND/LIFE/1", "stop")
    with pytest.raises(RemoteError, match="failing on purpose"):
        bus.request("BOUND/LIFE/1", "fail")
    with pytest.raises(RemoteError, match="does not take arguments"):
        bus.request("BOUND/LIFE/1", "start", 1)
    device.set("lockedBy", "someoneElse")
    with pytest.raises(RemoteError, match='is locked by "someoneElse"'):
        bus.request("BOUND/LIFE/1", "start")
    with pytest.raises(RemoteError, match="locked"):
        bus.request("BOUND/LIFE/1", "slotReconfigure", Hash("limited", 2))
    bus.request("BOUND/LIFE/1", "slotClearLock")
    assert bus.request("BOUND/LIFE/1", "start") == ("ON",)


def test_plain_slots_reply_and_know_their_caller(bus):
    bus.start(LifeDevice, config())
    assert bus.request("BOUND/LIFE/1", "add", 2, 3) == (5,)
    assert bus.request("BOUND/LIFE/1", "whoCalls") == (bus.client.instanceId,)


def test_signals_requests_and_calls_between_devices(bus):
    emitter = bus.start(LifeDevice, config("BOUND/EMITTER/1"))
    receiver = bus.start(LifeDevice, config("BOUND/RECEIVER/1"))
    got = []
    arrived = threading.Event()

    def onSum(value):
        got.append(value)
        arrived.set()
    receiver.KARABO_SLOT(onSum)
    receiver.connect("BOUND/EMITTER/1", "signalSum", "onSum")
    assert receiver.request("BOUND/EMITTER/1", "add", 20, 22).waitForReply(int(T * 1000)) == (42,)
    assert arrived.wait(T) and got == [42]
    receiver.call("BOUND/EMITTER/1", "start")
    deadline = time.monotonic() + T
    while emitter["state"] is not State.ON and time.monotonic() < deadline:
        time.sleep(0.01)
    assert emitter["state"] is State.ON
    assert emitter["lastCommand"] == "start <- BOUND/RECEIVER/1"


def test_kill_runs_pre_destruction_and_leaves_the_bus(bus):
    device = bus.start(LifeDevice, config())
    bus.client.call("BOUND/LIFE/1", "slotKillDevice")
    assert device.waitKilled(T)
    assert device.hooks[-1] == "destruction"
    with pytest.raises(KaraboError, match="not online"):
        device.emit("signalSum", 1)


def test_worker_runs_periodically_until_stopped():
    ticks = []
    worker = Worker(lambda: ticks.append(1), timeout=10).start()
    deadline = time.monotonic() + T
    while len(ticks) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    worker.stop()
    worker.join(T)
    assert len(ticks) >= 3 and not worker.is_alive() and not worker.is_running()
    once = Worker(lambda: ticks.append(2), timeout=0, single_shot=True).start()
    once.join(T)
    assert ticks[-1] == 2 and ticks.count(2) == 1
    paused = []
    worker = Worker(lambda: paused.append(1), timeout=5).start()
    worker.pause()
    time.sleep(0.05)
    count = len(paused)
    time.sleep(0.05)
    assert len(paused) <= count + 1   # at most the call that was running when paused
    worker.start()
    deadline = time.monotonic() + T
    while len(paused) < count + 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    worker.stop()
    assert len(paused) >= count + 3
    with pytest.raises(TypeError, match="callable"):
        Worker(42)


def test_legacy_log_calls(bus, caplog):
    device = bus.start(LifeDevice, config())
    with caplog.at_level("INFO", logger="BOUND/LIFE/1"):
        device.log.INFO("hello from the bound API")
        device.log.DEBUG("hidden at INFO")
    assert "hello from the bound API" in caplog.text and "hidden" not in caplog.text
    bus.request("BOUND/LIFE/1", "slotLoggerLevel", "DEBUG")
    assert device["log.level"] == "DEBUG" and device.logger.level == 10
