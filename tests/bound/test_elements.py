"""The fluent builders: Karabo's chains, their errors, and the same Schema as the middlelayer's descriptors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pykarabo import middlelayer as mdl
from pykarabo.bound import (ALARM_ELEMENT, BOOL_ELEMENT, DOUBLE_ELEMENT, IMAGEDATA_ELEMENT, INPUT_CHANNEL,
                            INT32_ELEMENT, NDARRAY_ELEMENT, NODE_ELEMENT, OUTPUT_CHANNEL, OVERWRITE_ELEMENT,
                            SLOT_ELEMENT, STATE_ELEMENT, STRING_ELEMENT, TABLE_ELEMENT, UINT32_ELEMENT,
                            UINT64_ELEMENT, VECTOR_DOUBLE_ELEMENT, VECTOR_STRING_ELEMENT, AccessLevel, AccessMode,
                            ArchivePolicy, Assignment, Configurator, Hash, KARABO_CLASSINFO, MetricPrefix,
                            PythonDevice, Schema, State, Types, Unit)


def mdlSchema(**members) -> Schema:
    return type("Test", (mdl.Configurable,), members).getClassSchema()


def attributes(schema: Schema, path: str) -> dict:
    return {k: v.tolist() if hasattr(v, "tolist") else v for k, v in schema.hash.getAttributes(path).items()}


def assertSameSchema(bound: Schema, middlelayer: Schema) -> None:
    assert bound.getPaths() == middlelayer.getPaths()
    for path in bound.getPaths():
        assert attributes(bound, path) == attributes(middlelayer, path), path
    assert bound.hash.fullyEqual(middlelayer.hash)


async def _noop(self):
    pass


def test_leaves_and_slots_equal_middlelayer_descriptors():
    s = Schema("Test")
    (
        STRING_ELEMENT(s).key("greeting").displayedName("Greeting").description("What to say")
        .tags("a b").assignmentOptional().defaultValue("hello").reconfigurable().commit(),
        DOUBLE_ELEMENT(s).key("gain").displayedName("Gain").unit(Unit.VOLT).metricPrefix(MetricPrefix.MILLI)
        .minInc(0).maxExc(10.5).expertAccess().allowedStates(State.ON, State.OFF)
        .assignmentOptional().defaultValue(1.5).reconfigurable().commit(),
        UINT32_ELEMENT(s).key("count").displayedName("Count").readOnly().initialValue(0)
        .archivePolicy(ArchivePolicy.NO_ARCHIVING).commit(),
        INT32_ELEMENT(s).key("mode").options("1 2 3").assignmentMandatory().init().commit(),
        VECTOR_DOUBLE_ELEMENT(s).key("curve").minSize(1).maxSize(4).assignmentOptional()
        .defaultValue([1.0, 2.0]).reconfigurable().commit(),
        VECTOR_STRING_ELEMENT(s).key("names").assignmentOptional().defaultValue(["a"]).init().commit(),
        BOOL_ELEMENT(s).key("flag").assignmentOptional().defaultValue(True).reconfigurable().commit(),
        SLOT_ELEMENT(s).key("start").displayedName("Start").allowedStates(State.OFF).commit(),
    )
    middlelayer = mdlSchema(
        greeting=mdl.String(displayedName="Greeting", description="What to say", tags=["a", "b"],
                            defaultValue="hello", accessMode=AccessMode.RECONFIGURABLE),
        gain=mdl.Double(displayedName="Gain", unitSymbol=Unit.VOLT, metricPrefixSymbol=MetricPrefix.MILLI,
                        minInc=0, maxExc=10.5, requiredAccessLevel=AccessLevel.EXPERT,
                        allowedStates=[State.ON, State.OFF], defaultValue=1.5,
                        accessMode=AccessMode.RECONFIGURABLE),
        count=mdl.UInt32(displayedName="Count", accessMode=AccessMode.READONLY, defaultValue=0,
                         archivePolicy=ArchivePolicy.NO_ARCHIVING),
        mode=mdl.Int32(options=[1, 2, 3], assignment=Assignment.MANDATORY, accessMode=AccessMode.INITONLY),
        curve=mdl.VectorDouble(minSize=1, maxSize=4, defaultValue=[1.0, 2.0],
                               accessMode=AccessMode.RECONFIGURABLE),
        names=mdl.VectorString(defaultValue=["a"], accessMode=AccessMode.INITONLY),
        flag=mdl.Bool(defaultValue=True, accessMode=AccessMode.RECONFIGURABLE),
        start=mdl.Slot(displayedName="Start", allowedStates=[State.OFF])(_noop),
    )
    assertSameSchema(s, middlelayer)


class Row(mdl.Configurable):
    name = mdl.String(defaultValue="", accessMode=AccessMode.RECONFIGURABLE)
    value = mdl.Double(defaultValue=0.0, accessMode=AccessMode.RECONFIGURABLE)


class Data(mdl.Configurable):
    image = mdl.NDArray(dtype=mdl.UInt16, shape=(64, 512, 128), displayedName="Image")
    trainId = mdl.UInt64(displayedName="Train", accessMode=AccessMode.READONLY, defaultValue=0)


class Motor(mdl.Configurable):
    position = mdl.Double(displayedName="Position", accessMode=AccessMode.READONLY, defaultValue=0.0)


def dataSchema() -> Schema:
    data = Schema("Data")
    (
        NDARRAY_ELEMENT(data).key("image").displayedName("Image").dtype(Types.UINT16).shape("64,512,128")
        .commit(),
        UINT64_ELEMENT(data).key("trainId").displayedName("Train").readOnly().commit(),
    )
    return data


def test_composites_and_channels_equal_middlelayer_descriptors():
    rows = Schema("Row")
    (
        STRING_ELEMENT(rows).key("name").assignmentOptional().defaultValue("").reconfigurable().commit(),
        DOUBLE_ELEMENT(rows).key("value").assignmentOptional().defaultValue(0.0).reconfigurable().commit(),
    )
    s = Schema("Test")
    (
        TABLE_ELEMENT(s).key("table").displayedName("Table").setColumns(rows).assignmentOptional()
        .defaultValue([Hash("name", "x", "value", 1.0)]).reconfigurable().commit(),
        NODE_ELEMENT(s).key("motor").displayedName("Motor").commit(),
        DOUBLE_ELEMENT(s).key("motor.position").displayedName("Position").readOnly().commit(),
        OUTPUT_CHANNEL(s).key("output").displayedName("Output").dataSchema(dataSchema()).commit(),
        INPUT_CHANNEL(s).key("input").displayedName("Input").commit(),
    )
    middlelayer = mdlSchema(
        table=mdl.VectorHash(rows=Row, displayedName="Table", defaultValue=[Hash("name", "x", "value", 1.0)],
                             accessMode=AccessMode.RECONFIGURABLE),
        motor=mdl.Node(Motor, displayedName="Motor"),
        output=mdl.OutputChannel(Data, displayedName="Output"),
        input=mdl.InputChannel(displayedName="Input")(_noop),
    )
    assertSameSchema(s, middlelayer)


def test_base_schema_equals_the_middlelayer_device_but_where_karabo_differs():
    bound = PythonDevice.getSchema()
    middlelayer = mdl.Device.getClassSchema()
    assert bound.getPaths() == middlelayer.getPaths()
    for path in bound.getPaths():
        if path not in ("heartbeatInterval", "pid"):
            assert attributes(bound, path) == attributes(middlelayer, path), path
    assert bound.getDefaultValue("heartbeatInterval") == 30   # bound devices beat every 30 s (Karabo 3)
    assert bound.getDefaultValue("pid") == 0                   # bound read-only numbers start at 0


def test_commit_without_assignment_is_refused():
    s = Schema("Test")
    with pytest.raises(ValueError, match=r"Missing assignment, i.e. assignmentMandatory\(\) / assignmentOptional"):
        INT32_ELEMENT(s).key("x").reconfigurable().commit()
    assert not s.has("x")
    INT32_ELEMENT(s).key("ro").readOnly().commit()   # read-only elements need none
    assert s.getDefaultValue("ro") == 0 and s.getValueType("ro") == Types.INT32


@pytest.mark.parametrize("key", ["1abc", "a-b", "a..b", ""])
def test_bad_keys_are_refused(key):
    with pytest.raises(ValueError, match="Bad"):
        STRING_ELEMENT(Schema("Test")).key(key).assignmentOptional().defaultValue("").commit()


def test_builders_need_a_schema_and_a_key():
    with pytest.raises(TypeError, match="expects a Schema"):
        STRING_ELEMENT(Hash())
    with pytest.raises(ValueError, match="key"):
        SLOT_ELEMENT(Schema("Test")).displayedName("x").commit()


def test_limits_and_defaults_are_checked_when_committed():
    s = Schema("Test")
    with pytest.raises(ValueError, match="out of upper bound|maxInc|Default value"):
        INT32_ELEMENT(s).key("x").maxInc(5).assignmentOptional().defaultValue(7).commit()
    with pytest.raises(TypeError, match="limits apply to numeric scalars"):
        STRING_ELEMENT(s).key("y").minInc(1).assignmentOptional().defaultValue("a").commit()


@given(st.lists(st.integers(-2**31, 2**31 - 1), min_size=1, max_size=5, unique=True))
def test_options_as_a_string_become_typed_values(values):
    s = Schema("Test")
    INT32_ELEMENT(s).key("x").options(",".join(map(str, values))).assignmentOptional() \
        .defaultValue(values[0]).reconfigurable().commit()
    assert list(s.getOptions("x")) == values


def test_state_alarm_image_and_overwrite():
    s = Schema("Test")
    (
        STATE_ELEMENT(s).key("state").options(State.ON, State.OFF).initialValue(State.OFF).commit(),
        ALARM_ELEMENT(s).key("alarmCondition").commit(),
        IMAGEDATA_ELEMENT(s).key("image").setDimensions("512,128").setType(Types.UINT16).commit(),
    )
    assert s.getDefaultValue("state") == "OFF" and list(s.getOptions("state")) == ["ON", "OFF"]
    assert s.getClassId("alarmCondition") == "AlarmCondition"
    assert s.getClassId("image") == "ImageData" and list(s.getDefaultValue("image.dims")) == [512, 128]
    OVERWRITE_ELEMENT(s).key("state").setNewOptions(State.ON, State.ERROR).setNewDefaultValue(State.ON).commit()
    assert s.getDefaultValue("state") == "ON" and list(s.getOptions("state")) == ["ON", "ERROR"]
    with pytest.raises(KeyError, match="cannot be overwritten"):
        OVERWRITE_ELEMENT(s).key("nothing").setNewDisplayedName("x").commit()


@KARABO_CLASSINFO("BuilderBase", "1.0")
class BuilderBase(PythonDevice):
    @staticmethod
    def expectedParameters(expected):
        DOUBLE_ELEMENT(expected).key("gain").assignmentOptional().defaultValue(1.0).reconfigurable().commit()


@KARABO_CLASSINFO("BuilderChild", "2.0")
class BuilderChild(BuilderBase):
    @staticmethod
    def expectedParameters(expected):
        OVERWRITE_ELEMENT(expected).key("gain").setNewDefaultValue(2.0).commit()
        VECTOR_DOUBLE_ELEMENT(expected).key("offsets").readOnly().initialValue([]).commit()


def test_classinfo_registers_and_schemas_apply_bases_first():
    schema = Configurator(PythonDevice).getSchema("BuilderChild")
    assert schema.rootName == "BuilderChild"
    assert schema.getDefaultValue("gain") == 2.0 and schema.has("offsets") and schema.has("deviceId")
    assert BuilderBase.getSchema().getDefaultValue("gain") == 1.0
    assert {"BuilderBase", "BuilderChild"} <= set(Configurator(PythonDevice).getRegisteredClasses())
    assert BuilderChild.__classid__ == "BuilderChild" and BuilderChild.__version__ == "2.0"


class MotorParameters:
    @staticmethod
    def expectedParameters(expected):
        DOUBLE_ELEMENT(expected).key("position").readOnly().commit()


def test_node_filled_with_the_parameters_of_a_class():
    s = Schema("Test")
    NODE_ELEMENT(s).key("motor").displayedName("Motor").appendParametersOf(MotorParameters).commit()
    assert s.getPaths() == ["motor.position"] and s.getDisplayedName("motor") == "Motor"
    assert s.isAccessReadOnly("motor.position")
