"""Middlelayer devices and clients on the embedded broker, in one event loop: standard slots, reconfiguration
rules with Karabo's messages, hooks, locks, signals and every scripting function."""

import asyncio
import logging

import pytest

from pykarabo import Hash
from pykarabo.errors import KaraboError, KaraboTimeoutError
from pykarabo.middlelayer import (AccessMode, Configurable, Device, Double, Int32, KaraboValue, Schema, Signal, Slot,
                                  State, String, TypeHash, Types, TypeSchema, VectorHash, VectorInt32,
                                  allCompleted, background, call, callNoWait, connectDevice, disconnectDevice,
                                  execute, executeNoWait, findDevices, firstCompleted, firstException, getClients,
                                  getConfiguration, getDevice, getDevices, getInstanceInfo, getOutputChannelInfo,
                                  getProperties, getSchema, getServers, getSystemInfo, getTimeInfo, getTopology,
                                  isAlive, lock, setNoWait, setWait, shutdown, sleep, slot, updateDevice, waitUntil,
                                  waitUntilNew, waitWhile)
from pykarabo.middlelayer.proxy import DeviceClient
from pykarabo.signalslot import RemoteError

DEV = "TEST/MDL/1"


class Row(Configurable):
    name = String(defaultValue="")
    weight = Double(defaultValue=1.0, minInc=0.0)


class Hello(Device):
    __version__ = "2.0"

    greeting = String(displayedName="Greeting", defaultValue="hello", allowedStates=[State.ON])
    counter = Int32(displayedName="Counter", accessMode=AccessMode.READONLY, defaultValue=0)
    limited = Double(defaultValue=1.0, minInc=0.0, maxInc=5.0)
    mode = String(defaultValue="fast", options=["fast", "slow"])
    fixed = Int32(defaultValue=3, accessMode=AccessMode.INITONLY)
    setterCalls = Int32(accessMode=AccessMode.READONLY, defaultValue=0)
    values = VectorInt32(defaultValue=[1, 2], maxSize=4)
    table = VectorHash(rows=Row, defaultValue=[])
    changed = Signal(String(), Int32())
    report = Signal(TypeHash(), TypeSchema(), VectorInt32())
    events: list

    @Double(defaultValue=0.5, maxInc=10.0)
    async def target(self, value):
        self.target = value
        self.setterCalls = self.setterCalls.value + 1

    @Slot(displayedName="Start", allowedStates=[State.OFF])
    async def start(self):
        self.state = State.ON
        self.counter = self.counter.value + 1

    @Slot(displayedName="Stop", allowedStates=[State.ON])
    def stop(self):
        """A plain function: runs in a worker thread."""
        self.state = State.OFF

    @Slot(displayedName="Fail")
    async def fail(self):
        raise RuntimeError("failing on purpose")

    @slot
    def slotAdd(self, a, b):
        return a + b

    @Slot(displayedName="Ask myself")
    def askMyself(self):
        """A worker thread using the blocking functions: they run on the device's loop."""
        self.counter = call(self.deviceId.value, "slotAdd", 20, 22)

    @slot
    async def announce(self, text):
        self.changed(text, 42)
        self.report(Hash("a.b", 1), self.getClassSchema(), [1, 2])

    async def preInitialization(self):
        self.events = ["pre"]

    async def onInitialization(self):
        self.events.append("init")
        self.state = State.OFF

    async def onDestruction(self):
        self.events.append("destruction")


def test_standard_slots_reply_like_karabo(bus):
    async def test():
        device = await bus.start(Hello({"deviceId": DEV}))
        assert device.events == ["pre", "init"] and device.is_initialized
        config, deviceId = await call(DEV, "slotGetConfiguration")
        assert deviceId == DEV and config["classId"] == "Hello" and config["classVersion"] == "tests-2.0"
        assert config["state"] == "OFF" and config.hasAttribute("state", "tid")
        schema, deviceId = await call(DEV, "slotGetSchema", False)
        assert schema.rootName == "Hello" and schema.has("greeting") and deviceId == DEV
        writable, _ = await call(DEV, "slotGetSchema", True)   # only what can be written in state OFF
        assert writable.has("limited") and writable.has("start") and not writable.has("greeting")
        assert not writable.has("counter") and not writable.has("stop")
        piece = await call(DEV, "slotGetConfigurationSlice", Hash("paths", ["limited", "mode"]))
        assert piece.getKeys() == ["limited", "mode"] and piece.hasAttribute("limited", "sec")
        time = await call(DEV, "slotGetTime", Hash())
        assert time.hasAttribute("time", "frac") and time.has("reference")
        assert (await call(DEV, "slotGetSystemInfo", Hash())).has("timeInfo")
        info = await call(DEV, "slotPing", 1)
        assert info["type"] == "device" and info["classId"] == "Hello" and info["heartbeatInterval"] == 120
        assert await call(DEV, "slotHasSlot", "start") is True
        assert await call(DEV, "slotGetOutputChannelNames") == []
        assert not (await call(DEV, "slotGetOutputChannelInformation", Hash("channelId", "nope")))["success"]
        with pytest.raises(RemoteError, match="has no slot 'slotDoesNotExist'"):
            await call(DEV, "slotDoesNotExist")
        assert await call(DEV, "slotAdd", 2, 3) == 5
    bus.run(test)


@pytest.mark.parametrize("changes, message", [
    ({"counter": 7}, 'unexpected configuration parameter: "counter" (READONLY'),
    ({"fixed": 4}, 'unexpected configuration parameter: "fixed" (INITONLY'),
    ({"nonexistent": 1}, 'unexpected configuration parameter: "nonexistent"'),
    ({"limited": 7.0}, 'Value 7 for parameter "limited" is out of upper bound 5'),
    ({"limited": -1.0}, 'for parameter "limited" is out of lower bound 0'),
    ({"limited": "abc"}, 'Failed to cast the value of parameter "limited" from STRING to DOUBLE'),
    ({"mode": "medium"}, "Value 'medium' for parameter \"mode\" is not one of the valid options: fast,slow"),
    ({"greeting": "hi"}, 'unexpected configuration parameter: "greeting" (not allowed in state "OFF"'),
])
def test_reconfiguration_errors_name_the_broken_rule(bus, changes, message):
    async def test():
        device = await bus.start(Hello({"deviceId": DEV}))
        before = device.configurationAsHash()
        with pytest.raises(KaraboError) as info:
            await setWait(DEV, **changes)
        assert message in str(info.value)
        key = next(iter(changes))
        if before.has(key):
            assert device.configurationAsHash()[key] == before[key]   # nothing applied
    bus.run(test)


def test_slots_setters_and_state_rules(bus):
    async def test():
        device = await bus.start(Hello({"deviceId": DEV, "target": 2.0}))
        assert device.target == 2.0 and device.setterCalls == 1   # the setter ran for the initial value
        proxy = await connectDevice(DEV)
        with pytest.raises(KaraboError, match='Command "stop" is not allowed in current state "OFF"'):
            await proxy.stop()
        await proxy.start()
        assert proxy.state == State.ON and proxy.counter == 1   # changes arrive before the reply
        assert proxy.lastCommand == f"start <- {proxy._host.instanceId}"
        await setWait(proxy, target=4.0, greeting="hi")
        assert proxy.target == 4.0 and proxy.greeting == "hi" and device.setterCalls == 2
        await execute(DEV, "stop")             # a plain def slot, run in a worker thread
        assert proxy.state == State.OFF
        with pytest.raises(KaraboError, match="failing on purpose"):
            await execute(DEV, "fail")
        with pytest.raises(KaraboError, match="does not take arguments"):
            await call(DEV, "start", 1)
        await proxy.askMyself()
        assert proxy.counter == 42
        await setWait(DEV, **{"log.level": "DEBUG"})
        assert device.logger.level == logging.DEBUG
        assert isinstance(proxy.counter, KaraboValue) and proxy.counter.timestamp is not None
    bus.run(test)


def test_lock_only_lets_the_holder_reconfigure(bus):
    async def test():
        await bus.start(Hello({"deviceId": DEV}))
        other = await DeviceClient(bus.url, bus.topic).start(discoverWait=0)
        try:
            await setWait(DEV, lockedBy="someone-else")
            with pytest.raises(KaraboError, match=f'Device "{DEV}" is locked by "someone-else"'):
                await setWait(DEV, limited=2.0)
            with pytest.raises(KaraboError, match="is locked by"):
                await execute(DEV, "start")
            await other._request(DEV, "slotClearLock")     # always callable
            await setWait(DEV, limited=2.0)
            assert (await getConfiguration(DEV))["lockedBy"] == ""
        finally:
            await other.stop()
    bus.run(test)


def test_signals_reach_connected_slots(bus):
    async def test():
        device = await bus.start(Hello({"deviceId": DEV}))
        listener = await DeviceClient(bus.url, bus.topic).start(discoverWait=0)
        received = asyncio.get_running_loop().create_future()
        listener._sigslot.registerSlot(lambda text, number: received.set_result((text, number)), "onChanged")
        reported = asyncio.get_running_loop().create_future()
        listener._sigslot.registerSlot(lambda *args: reported.set_result(args), "onReport")
        listener._sigslot.connect(DEV, "changed", "onChanged")
        listener._sigslot.connect(DEV, "report", "onReport")
        await listener._sigslot.syncBroker()
        try:
            await call(DEV, "announce", "news")
            assert await asyncio.wait_for(received, 5) == ("news", 42)
            table, schema, numbers = await asyncio.wait_for(reported, 5)
            assert table["a.b"] == 1 and Schema.fromCore(schema).has("greeting") and list(numbers) == [1, 2]
            with pytest.raises(TypeError, match="signal changed takes 2 arguments, 1 given"):
                device.changed("only one")
        finally:
            await listener.stop()
    bus.run(test)


def test_proxies_and_every_scripting_function(bus):
    async def test():
        device = await bus.start(Hello({"deviceId": DEV}))
        async with getDevice(DEV) as proxy:
            assert proxy.deviceId == DEV and "greeting" in dir(proxy)
            proxy.limited = 3.0                     # in the loop: sent in the background
            await waitUntil(lambda: proxy.limited == 3.0, timeout=5)
            device.limited = 4.0                    # device side change, seen by the proxy
            await waitUntilNew(proxy.limited, timeout=5)
            assert proxy.limited == 4.0
        plain = await getDevice(DEV)                # not subscribed: a snapshot
        device.limited = 1.5
        await sleep(0.2)
        assert plain.limited == 4.0
        await updateDevice(plain)
        assert plain.limited == 1.5
        proxy = await connectDevice(DEV)
        setNoWait(DEV, limited=2.5)
        await waitUntil(lambda: proxy.limited == 2.5, timeout=5)
        executeNoWait(proxy, "start")
        await waitUntil(lambda: proxy.state == State.ON, timeout=5)
        await waitWhile(lambda: proxy.state == State.OFF, timeout=5)
        callNoWait(DEV, "stop")
        await waitUntilNew(proxy, timeout=5)
        await waitUntil(lambda: proxy.state == State.OFF, timeout=5)
        with pytest.raises(KaraboTimeoutError):
            await waitUntil(lambda: proxy.state == State.ERROR, timeout=0.2)
        with pytest.raises(KaraboTimeoutError):
            await waitUntilNew(proxy.counter, timeout=0.2)
        assert (await getConfiguration(proxy))["limited"] == 2.5
        assert (await getSchema(DEV)).has("target")
        assert not (await getSchema(DEV, True)).has("stop")
        assert (await getProperties(DEV, ["mode", "limited"]))["mode"] == "fast"
        assert (await getInstanceInfo(DEV))["classId"] == "Hello"
        assert (await getTimeInfo(DEV)).has("time") and (await getSystemInfo(DEV)).has("user")
        with pytest.raises(KaraboError, match="no output channel"):
            await getOutputChannelInfo(DEV, "output")
        assert DEV in await getDevices() and DEV in await findDevices("mdl/1")
        assert await getServers() == []
        assert proxy._host.instanceId in await getClients() or await getClients() == []
        assert (await getTopology()).has("device")
        await disconnectDevice(proxy)
        assert isAlive(proxy)
        assert await shutdown(DEV) is True
        await waitUntil(lambda: not isAlive(proxy), timeout=5)
        await device.waitKilled()
        assert device.events[-1] == "destruction" and proxy.state == State.UNKNOWN
        with pytest.raises(KaraboError, match="not found"):
            await getDevice(DEV, timeout=0.3)
    bus.run(test)


def test_blocking_scripting_from_a_thread(bus):
    def script():
        proxy = connectDevice(DEV)
        proxy.limited = 4.5                          # blocking: the reply has come back
        assert proxy.limited == 4.5
        with pytest.raises(KaraboError, match="out of upper bound"):
            proxy.limited = 9.0
        proxy.start()
        waitUntil(lambda: proxy.state == State.ON, timeout=5)
        with pytest.raises(KaraboTimeoutError):
            waitUntil(lambda: proxy.state == State.ERROR, timeout=0.2)
        setWait(DEV, "limited", 1.0, mode="slow")
        assert getConfiguration(DEV)["mode"] == "slow"
        assert call(DEV, "slotAdd", 1, 1) == 2
        with getDevice(DEV) as scoped:
            assert scoped.mode == "slow"
        with lock(proxy):
            assert getConfiguration(DEV)["lockedBy"] == proxy._host.instanceId
            proxy.limited = 2.0                      # the holder may still reconfigure
        assert getConfiguration(DEV)["lockedBy"] == ""
        sleep(0.01)
        return execute(DEV, "stop")

    async def test():
        await bus.start(Hello({"deviceId": DEV}))
        assert await asyncio.to_thread(script) is None
    bus.run(test)


def test_background_and_completion_helpers(bus):
    async def test():
        async def value(v, delay):
            await asyncio.sleep(delay)
            return v

        async def boom():
            raise ValueError("boom")

        task = background(value, 3, 0.01)
        assert await task == 3
        assert await background(lambda: 7) == 7        # a plain function runs in a thread
        done, pending, errors = await firstCompleted(fast=value(1, 0), slow=value(2, 5))
        assert done == {"fast": 1} and list(pending) == ["slow"] and not errors
        done, pending, errors = await allCompleted(value(1, 0), boom(), timeout=2)
        assert done == {0: 1} and isinstance(errors[1], ValueError) and not pending
        done, pending, errors = await firstException(boom(), slow=value(2, 5))
        assert isinstance(errors[0], ValueError) and "slow" in pending
        done, pending, _ = await allCompleted(slow=value(2, 5), timeout=0.05)
        assert not done and "slow" in pending and pending["slow"].cancelled() is False
        with pytest.raises(asyncio.TimeoutError):
            await sleep(1, timeout=0.05)
    bus.run(test)


class Broken(Device):
    async def onInitialization(self):
        raise RuntimeError("hardware missing")


def test_failing_initialization_kills_the_device_and_frees_its_id(bus):
    async def test():
        with pytest.raises(RuntimeError, match="hardware missing"):
            await bus.start(Broken({"deviceId": DEV}))
        await bus.start(Hello({"deviceId": DEV}))   # the id is free again
        with pytest.raises(KaraboError, match="already in use"):
            await bus.start(Hello({"deviceId": DEV}))
    bus.run(test)


def test_schema_injection_changes_one_device_and_reaches_its_proxies(bus):
    async def test():
        device = await bus.start(Hello({"deviceId": DEV}))
        other = await bus.start(Hello({"deviceId": "TEST/MDL/2"}))
        proxy = await connectDevice(DEV)
        device.__class__.extra = Int32(defaultValue=7, displayedName="Extra", maxInc=10)
        await device.publishInjectedParameters(extra=8)
        await waitUntil(lambda: "extra" in dir(proxy) and proxy.extra == 8, timeout=5)
        assert not other.getClassSchema().has("extra") and not Hello.getClassSchema().has("extra")
        await setWait(proxy, extra=9)
        assert device.extra == 9
        with pytest.raises(KaraboError, match="out of upper bound"):
            await setWait(proxy, extra=11)
    bus.run(test)


def test_vectors_and_tables_keep_their_types_over_the_bus(bus):
    async def test():
        device = await bus.start(Hello({"deviceId": DEV}))
        proxy = await connectDevice(DEV)
        await setWait(proxy, values=[3, 4, 5], table=[("a", 0.5), ("b", 2.0)])
        assert list(device.values) == [3, 4, 5] and list(proxy.values) == [3, 4, 5]
        config = await getConfiguration(DEV)
        assert config.getType("values") == Types.VECTOR_INT32 and config.getType("table") == Types.VECTOR_HASH
        assert [row["name"] for row in proxy.table] == ["a", "b"]
        piece = await getProperties(DEV, "values")
        assert piece.getType("values") == Types.VECTOR_INT32
        with pytest.raises(KaraboError, match="greater than upper bound"):
            await setWait(proxy, values=[1, 2, 3, 4, 5])
        with pytest.raises(KaraboError, match="out of lower bound"):
            await setWait(proxy, table=[("c", -1.0)])
    bus.run(test)
