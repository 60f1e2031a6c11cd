"""Descriptors and Configurables offline: the Schema they declare and the values they accept."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pykarabo import Hash, Types
from pykarabo.errors import KaraboError, RemovedInKarabo3Error, ValidationError
from pykarabo.middlelayer import (AccessLevel, AccessMode, AlarmCondition, Assignment, Bool, ByteArray, Char,
                                  Configurable, Device, Double, Float, Image, InputChannel, Int8, Int16, Int32,
                                  Int64, NDArray, Node, OutputChannel, Overwrite, RegexString, Signal, Slot, State,
                                  String, UInt8, UInt16, UInt32, UInt64, Unit, VectorBool, VectorChar, VectorDouble,
                                  VectorFloat, VectorHash, VectorInt8, VectorInt16, VectorInt32, VectorInt64,
                                  VectorString, VectorUInt8, VectorUInt16, VectorUInt32, VectorUInt64, isSet, slot)
from pykarabo.middlelayer.values import EnumValue, NoneValue

LEAVES = [
    (Bool, Types.BOOL, True), (Int8, Types.INT8, -5), (UInt8, Types.UINT8, 200), (Int16, Types.INT16, -3000),
    (UInt16, Types.UINT16, 60000), (Int32, Types.INT32, -70000), (UInt32, Types.UINT32, 4_000_000_000),
    (Int64, Types.INT64, -2**40), (UInt64, Types.UINT64, 2**63), (Float, Types.FLOAT, 1.5),
    (Double, Types.DOUBLE, 2.25), (String, Types.STRING, "text"), (ByteArray, Types.BYTE_ARRAY, b"\x00\x01"),
    (VectorBool, Types.VECTOR_BOOL, [True, False]), (VectorInt8, Types.VECTOR_INT8, [-1, 2]),
    (VectorUInt8, Types.VECTOR_UINT8, [1, 2]), (VectorInt16, Types.VECTOR_INT16, [-300, 2]),
    (VectorUInt16, Types.VECTOR_UINT16, [300, 2]), (VectorInt32, Types.VECTOR_INT32, [-1, 2]),
    (VectorUInt32, Types.VECTOR_UINT32, [1, 2]), (VectorInt64, Types.VECTOR_INT64, [-1, 2]),
    (VectorUInt64, Types.VECTOR_UINT64, [1, 2]), (VectorFloat, Types.VECTOR_FLOAT, [0.5, 1.5]),
    (VectorDouble, Types.VECTOR_DOUBLE, [0.5, 1.5]), (VectorString, Types.VECTOR_STRING, ["a", "b"]),
    (Char, Types.CHAR, "a"), (VectorChar, Types.VECTOR_CHAR, b"ab"),
]


@pytest.mark.parametrize("descriptor, valueType, sample", LEAVES, ids=[c.__name__ for c, _, _ in LEAVES])
def test_every_leaf_kind_declares_its_type_and_stores_typed_values(descriptor, valueType, sample):
    cls = type("Holder", (Configurable,), {"prop": descriptor(displayedName="Prop", defaultValue=sample)})
    attrs = cls.getClassSchema().hash.getAttributes("prop")
    assert attrs["valueType"] == valueType.name
    assert attrs["accessMode"] == AccessMode.RECONFIGURABLE     # the middlelayer default
    assert attrs["displayedName"] == "Prop"
    holder = cls()
    config = holder.configurationAsHash()
    assert config.getType("prop") == valueType
    value = holder.prop
    raw = value.value
    assert (list(raw) if isinstance(raw, np.ndarray) else raw) == sample
    assert value.timestamp is not None
    holder.prop = sample
    assert holder.configurationAsHash().getType("prop") == valueType


def test_keywords_become_karabo_attributes():
    class Holder(Configurable):
        gain = Double(displayedName="Gain", description="Amplifier gain", unitSymbol=Unit.VOLT, minInc=0.0,
                      maxInc=10.0, defaultValue=1.0, allowedStates=[State.ON], tags={"daq"}, alias="G",
                      requiredAccessLevel=AccessLevel.EXPERT)
        mode = String(options=["fast", "slow"], defaultValue="fast", accessMode=AccessMode.INITONLY)
        must = Int32(assignment=Assignment.MANDATORY)
        code = RegexString(regex="[a-z]+", defaultValue="abc")

    h = Holder.getClassSchema().hash
    gain = h.getAttributes("gain")
    assert gain["unitSymbol"] == "V" and gain["minInc"] == 0.0 and gain["maxInc"] == 10.0
    assert list(gain["allowedStates"]) == ["ON"] and list(gain["tags"]) == ["daq"] and gain["alias"] == "G"
    assert gain["requiredAccessLevel"] == AccessLevel.EXPERT
    assert list(h.getAttribute("mode", "options")) == ["fast", "slow"]
    assert h.getAttribute("mode", "accessMode") == AccessMode.INITONLY
    assert h.getAttribute("must", "assignment") == Assignment.MANDATORY
    assert h.getAttribute("code", "classId") == "RegexString" and h.getAttribute("code", "regex") == "[a-z]+"
    with pytest.raises(ValidationError, match='Missing mandatory parameter: "must"'):
        Holder()
    holder = Holder({"must": 3})
    with pytest.raises(ValidationError, match="out of upper bound"):
        holder.gain = 11
    with pytest.raises(ValidationError, match="is not one of the valid options: fast,slow"):
        holder.mode = "medium"
    with pytest.raises(ValidationError, match="does not fit"):
        holder.must = "three"
    assert holder.gain == 1.0   # nothing changed by the failed assignments


def test_unknown_and_removed_keywords_are_refused_at_declaration():
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        Double(colour="red")
    with pytest.raises(RemovedInKarabo3Error):
        Double(warnLow=1.0)
    with pytest.raises(RemovedInKarabo3Error):
        Int32(daqPolicy=1)


class Motor(Configurable):
    position = Double(defaultValue=0.0, unitSymbol=Unit.METER)
    velocity = Double(defaultValue=1.0, minExc=0.0)


class Row(Configurable):
    name = String(defaultValue="")
    value = Int32(defaultValue=0)


class Data(Configurable):
    image = Image(dtype=UInt16, shape=(4, 6))
    trace = NDArray(dtype=Float, shape=(10,))
    count = UInt32(defaultValue=0)


class Composite(Configurable):
    motor = Node(Motor, displayedName="Motor")
    table = VectorHash(rows=Row, defaultValue=[Hash("name", "a", "value", 1)])
    output = OutputChannel(Data)
    changed = Signal(String(), Int32())

    @Slot(displayedName="Reset", allowedStates=[State.ON])
    async def reset(self):
        """Reset everything."""

    @InputChannel(raw=True, displayedName="Input")
    async def input(self, data, meta):
        pass

    @slot
    def plain(self, a):
        return a


def test_composite_elements_have_karabo_layouts():
    schema = Composite.getClassSchema()
    h = schema.hash
    assert h.getAttribute("motor", "nodeType") == 1 and h.getAttribute("motor.position", "unitSymbol") == "m"
    assert h.getAttribute("table", "valueType") == "VECTOR_HASH" and h.getAttribute("table", "displayType") == "Table"
    assert schema.getRowSchema("table").getKeys() == ["name", "value"]
    assert h.getAttribute("output", "classId") == "OutputChannel"
    assert h.getAttribute("output.schema.image", "classId") == "ImageData"
    assert h.getAttribute("output.schema.trace", "classId") == "NDArray"
    assert list(h.getAttribute("output.schema.trace.shape", "defaultValue")) == [10]
    assert h.getAttribute("input", "classId") == "InputChannel"
    assert h.getAttribute("input.dataDistribution", "defaultValue") == "copy"
    assert schema.isCommand("reset") and h.getAttribute("reset", "description") == "Reset everything."
    assert list(h.getAttribute("reset", "allowedStates")) == ["ON"]
    assert not schema.has("changed") and not schema.has("plain")   # signals and @slot are not in the schema


def test_nodes_tables_and_arrays_hold_values():
    c = Composite()
    assert c.motor.position == 0.0 and c.motor.position.timestamp is not None
    c.motor.position = 2.5
    assert c.configurationAsHash()["motor.position"] == 2.5
    with pytest.raises(ValidationError, match="lower bound"):
        c.motor.velocity = 0
    assert c.table.value[0]["name"] == "a"
    c.table = [("b", 2), Hash("name", "c", "value", 3), {"name": "d", "value": 4}]
    assert [row["value"] for row in c.table] == [2, 3, 4]
    data = Data()
    data.trace = np.arange(10, dtype=np.float32)
    assert data.trace.value.dtype == np.float32 and data.trace.sum() == 45
    data.image = np.ones((4, 6), np.uint16)
    assert data.image.getData().shape == (4, 6)
    with pytest.raises(ValidationError, match="shape"):
        data.trace = np.zeros(3, dtype=np.float32)


class Base(Device):
    speed = Double(defaultValue=1.0, maxInc=5.0)


class Derived(Base):
    state = Overwrite(defaultValue=State.OFF, options=[State.ON, State.OFF])
    speed = Overwrite(defaultValue=2.0, displayedName="Speed")


def test_overwrite_changes_inherited_declarations_only_in_the_subclass():
    h = Derived.getClassSchema().hash
    assert h.getAttribute("state", "defaultValue") == "OFF"
    assert list(h.getAttribute("state", "options")) == ["ON", "OFF"]
    assert h.getAttribute("speed", "defaultValue") == 2.0 and h.getAttribute("speed", "maxInc") == 5.0
    assert Base.getClassSchema().hash.getAttribute("speed", "defaultValue") == 1.0
    with pytest.raises(TypeError, match="needs an inherited"):
        type("Broken", (Configurable,), {"nothing": Overwrite(defaultValue=1)})


def test_device_has_karabos_base_properties():
    schema = Device.getClassSchema()
    assert schema.getKeys() == ["deviceId", "heartbeatInterval", "serverId", "classId", "classVersion",
                                "karaboVersion", "hostName", "pid", "state", "status", "alarmCondition", "lockedBy",
                                "slotClearLock", "lastCommand", "log"]
    h = schema.hash
    assert h.getAttribute("deviceId", "assignment") == Assignment.INTERNAL
    assert h.getAttribute("deviceId", "accessMode") == AccessMode.INITONLY
    assert h.getAttribute("heartbeatInterval", "defaultValue") == 120
    assert h.getAttribute("heartbeatInterval", "minInc") == 10
    assert h.getAttribute("state", "classId") == "State" and h.getAttribute("state", "defaultValue") == "UNKNOWN"
    assert h.getAttribute("alarmCondition", "classId") == "AlarmCondition"
    assert h.getAttribute("lockedBy", "displayType") == "lockedBy"
    assert schema.isCommand("slotClearLock")
    assert h.getAttribute("slotClearLock", "requiredAccessLevel") == AccessLevel.EXPERT
    assert list(h.getAttribute("log.level", "options")) == ["DEBUG", "INFO", "WARN", "ERROR", "FATAL"]


def test_device_offline_values():
    device = Derived({"_deviceId_": "TEST/OFFLINE/1"})
    assert device.deviceId == "TEST/OFFLINE/1" and device.classId == "Derived"
    assert device.classVersion == "tests-"      # <top-level package>-<__version__>
    assert device.state == State.OFF and device.state == "OFF" and isinstance(device.state, EnumValue)
    assert device.state.isDerivedFrom(State.PASSIVE)
    device.state = State.ON
    assert device.state.value is State.ON
    device.alarmCondition = AlarmCondition.WARN
    assert device.alarmCondition == AlarmCondition.WARN
    with pytest.raises(ValidationError):
        device.state = "NOT_A_STATE"
    assert device.speed + 1 == 3.0 and isSet(device.speed)
    assert isinstance(device.configurationAsHash()["pid"], int)
    with pytest.raises(ValidationError, match='unexpected configuration parameter: "bogus"'):
        Derived({"deviceId": "X", "bogus": 1})
    with pytest.raises(KaraboError, match="without a deviceId"):
        Derived()


def test_unset_values_are_none_values():
    class Holder(Configurable):
        maybe = Int32(accessMode=AccessMode.READONLY)

    value = Holder().maybe
    assert isinstance(value, NoneValue) and not isSet(value) and value == None  # noqa: E711


@given(st.integers(-1000, 1000), st.integers(-1000, 1000), st.integers(-2000, 2000))
def test_int_limits_accept_exactly_the_values_inside(low, high, value):
    if low > high:
        low, high = high, low
    cls = type("Limited", (Configurable,), {"x": Int32(minInc=low, maxInc=high, defaultValue=low)})
    holder = cls()
    if low <= value <= high:
        holder.x = value
        assert holder.x == value
    else:
        with pytest.raises(ValidationError):
            holder.x = value
        assert holder.x == low
