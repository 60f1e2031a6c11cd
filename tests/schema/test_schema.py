"""The Schema model: Karabo 3's attribute keys and types, introspection, merge, sub-schemas, dump."""

import numpy as np
import pytest

from pykarabo import Hash, Types, decodeBinary, encodeBinary
from pykarabo._core.hash import Schema as CoreSchema
from pykarabo.access import AccessLevel, AccessMode, AccessType, ArchivePolicy, Assignment, NodeType
from pykarabo.errors import RemovedInKarabo3Error
from pykarabo.schema import AssemblyRules, LeafElement, NodeElement, Schema, SlotElement, TableElement
from pykarabo.states import State
from pykarabo.units import MetricPrefix, Unit
from tests.golden import load_cases, read_bin
from tests.schema.device_schema import device_schema

GOLDEN = {c["name"]: c for c in load_cases()}


def attr_types(schema: Schema, path: str) -> dict:
    return {n.getKey(): n.getType() for n in schema.hash.getAttributes(path).nodes()}


def test_attribute_types_are_karabos():
    s = device_schema()
    t = attr_types(s, "i32")
    assert t["nodeType"] == t["accessMode"] == t["assignment"] == t["requiredAccessLevel"] == Types.INT32
    assert t["valueType"] == t["displayedName"] == t["description"] == Types.STRING
    assert t["defaultValue"] == t["minInc"] == t["maxExc"] == Types.INT32
    assert t["tags"] == Types.VECTOR_STRING
    t = attr_types(s, "vec")
    assert t["defaultValue"] == Types.VECTOR_DOUBLE and t["minSize"] == t["maxSize"] == Types.UINT32
    t = attr_types(s, "d")
    assert t["allowedStates"] == Types.VECTOR_STRING and t["defaultValue"] == Types.DOUBLE
    assert t["unitEnum"] == t["metricPrefixEnum"] == Types.INT32
    assert t["unitSymbol"] == t["unitName"] == Types.STRING
    assert attr_types(s, "init")["options"] == Types.VECTOR_STRING
    assert attr_types(s, "ro")["archivePolicy"] == Types.INT32
    assert attr_types(s, "ro")["defaultValue"] == Types.UINT32
    assert attr_types(s, "table")["rowSchema"] == Types.SCHEMA
    assert attr_types(s, "img.rotation")["options"] == Types.VECTOR_INT32


def test_special_layouts():
    s = device_schema()
    assert s.isCommand("start") and s.getDisplayType("start") == "Slot" and s.getKeys("start") == []
    assert s.getAccessMode("start") == AccessMode.RECONFIGURABLE
    assert s.getCustomNodeClass("arr") == "NDArray" and s.isCustomNode("arr")
    assert s.getKeys("arr") == ["data", "shape", "type", "isBigEndian"]
    assert s.getDefaultValue("arr.type") == int(Types.FLOAT)
    assert list(s.getDefaultValue("arr.shape")) == [10]
    assert s.getClassId("img") == "ImageData" and s.getClassId("img.pixels") == "NDArray"
    assert s.getClassId("state") == "State" and s.getDefaultValue("state") == "UNKNOWN"
    assert s.getClassId("alarmCondition") == "AlarmCondition" and s.getDefaultValue("alarmCondition") == "none"
    assert s.getClassId("output") == "OutputChannel" and s.getDisplayType("output.schema") == "OutputSchema"
    assert s.getKeys("output.schema") == ["count"]
    assert s.getClassId("input") == "InputChannel"
    assert s.getDefaultValue("input.dataDistribution") == "copy"
    assert s.getDisplayType("vec") == "Curve" and s.getDisplayType("table") == "Table"
    assert s.getRowSchema("table").getKeys() == ["a"]


def test_introspection():
    s = device_schema()
    assert s.getValueType("i32") is Types.INT32
    assert s.getAccessMode("init") == AccessMode.INITONLY and s.isAccessInitOnly("init")
    assert s.isAccessReadOnly("ro") and s.isAccessReconfigurable("i32")
    assert s.getAssignment("mand") == Assignment.MANDATORY and s.isAssignmentMandatory("mand")
    assert s.isAssignmentInternal("node.x") and s.isAssignmentOptional("i32")
    assert s.getDefaultValue("i32") == 3 and not s.hasDefaultValue("mand")
    assert s.getAllowedStates("d") == [State.ON, State.OFF]
    assert s.getRequiredAccessLevel("d") == AccessLevel.EXPERT
    assert s.getRequiredAccessLevel("ro") == AccessLevel.OBSERVER
    assert s.getUnit("d") is Unit.VOLT and s.getMetricPrefix("d") is MetricPrefix.MILLI
    assert s.getUnitSymbol("d") == "V" and s.getMetricPrefixName("d") == "milli"
    assert s.getMinInc("i32") == 0 and s.getMaxExc("i32") == 100 and not s.hasMaxInc("i32")
    assert s.getMinSize("vec") == 1 and s.getMaxSize("vec") == 5
    assert s.getOptions("init") == ["a", "b"]
    assert s.getTags("i32") == ["a"]
    assert s.getDisplayedName("i32") == "I" and s.getDisplayedName("mand") == "mand"
    assert s.getDescription("i32") == "d"
    assert s.getArchivePolicy("ro") == ArchivePolicy.NO_ARCHIVING
    assert s.getNodeType("node") == NodeType.NODE and s.isNode("node") and s.isLeaf("node.x")
    assert s.isProperty("i32") and not s.isProperty("start") and not s.isCommand("i32")
    assert s.getKeys()[:4] == ["i32", "ro", "init", "mand"]
    assert "node.x" in s.getPaths() and "start" in s.getPaths() and "output.schema.count" in s.getPaths()
    with pytest.raises(KeyError, match="nonexist"):
        s.getAccessMode("nonexist")
    assert s.hasReconfigurableParameter()
    for path in s.getPaths():
        if s.isLeaf(path) and s.isAccessReconfigurable(path):
            s.setAccessMode(path, AccessMode.READONLY)
    assert not s.hasReconfigurableParameter()


def test_setters_keep_types():
    s = device_schema()
    s.setDefaultValue("i32", "7")
    assert s.getDefaultValue("i32") == 7 and attr_types(s, "i32")["defaultValue"] == Types.INT32
    s.setOptions("i32", [3, 7])
    assert s.getOptions("i32") == [3, 7] and attr_types(s, "i32")["options"] == Types.VECTOR_INT32
    s.setMaxInc("d", 5)
    assert s.getMaxInc("d") == 5.0 and attr_types(s, "d")["maxInc"] == Types.DOUBLE
    s.setAllowedStates("i32", State.ON, "OFF")
    assert s.getAllowedStates("i32") == [State.ON, State.OFF]
    s.setMaxSize("vec", 3)
    assert attr_types(s, "vec")["maxSize"] == Types.UINT32
    s.setUnit("i32", Unit.AMPERE)
    assert s.getUnit("i32") is Unit.AMPERE
    s.setAlias("i32", 12)
    assert s.getKeyFromAlias(12) == "i32" and s.getAliasFromKey("i32") == 12 and s.aliasHasKey(12)


def test_binary_roundtrip_decodes_full_schema():
    s = device_schema()
    back = decodeBinary(encodeBinary(Hash("s", s)))["s"]
    assert type(back) is Schema and back == s
    assert back.getRowSchema("table").getKeys() == ["a"]


def test_from_core():
    core = CoreSchema("X", Hash("a", Hash()))
    s = Schema.fromCore(core)
    assert isinstance(s, Schema) and s.hash is core.hash and Schema.fromCore(s) is s


@pytest.mark.parametrize("name", ["schema_simple", "attr_schema"])
def test_golden_schemas_decode(name):
    if name not in GOLDEN:
        pytest.skip("golden vectors not available")
    h = decodeBinary(read_bin(GOLDEN[name]))
    if name == "schema_simple":
        s = h["schema"]
        assert isinstance(s, Schema) and s.getRootName() == "MyDevice"
        assert s.getValueType("count") is Types.INT32 and s.getDefaultValue("count") == 5
        assert s.getDisplayedName("count") == "Count" and s.isAccessReconfigurable("count")
        for path in s.getPaths():
            assert s.getValueType(path) in Types
    else:
        s = h.getAttribute("leaf", "schema")
        assert isinstance(s, Schema) and s.getRootName() == "AttrSchema"
        assert s.getDefaultValue("x") == 1 and s.isAccessInitOnly("x")


def test_merge_takes_other_attributes_and_adds_keys():
    a = Schema("A")
    LeafElement("a", Types.INT32, defaultValue=1, accessMode=AccessMode.RECONFIGURABLE).commit(a)
    NodeElement("n").commit(a)
    LeafElement("n.p", Types.INT32, defaultValue=1).commit(a)
    b = Schema("B")
    LeafElement("a", Types.INT32, defaultValue=2).commit(b)
    LeafElement("b", Types.INT32, defaultValue=2).commit(b)
    NodeElement("n").commit(b)
    LeafElement("n.q", Types.INT32, defaultValue=1).commit(b)
    a.merge(b)
    assert a.getRootName() == "A" and a.getPaths() == ["a", "n.p", "n.q", "b"]
    assert a.getDefaultValue("a") == 2 and a.isAccessInitOnly("a")


def test_sub_schemas():
    s = device_schema()
    sub = s.subSchema("node")
    assert sub.getRootName() == "" and sub.getPaths() == ["x"]
    assert s.subSchemaByPaths({"node.x", "i32"}).getPaths() == ["i32", "node.x"]
    assert s.subSchemaByPaths({"node.x"}).getDisplayedName("node") == "N"
    write_on = s.subSchemaByRules(AssemblyRules(AccessType.WRITE, State.ON))
    assert write_on.getPaths() == ["i32", "mand", "d", "vec", "table", "rows"]
    write_any = s.subSchemaByRules(AssemblyRules(AccessType.WRITE))
    assert "start" in write_any.getPaths() and "node" not in write_any.getKeys()
    observer = s.subSchemaByRules(AssemblyRules(accessLevel=AccessLevel.OPERATOR))
    assert "d" not in observer.getPaths() and "i32" in observer.getPaths()
    tagged = s.subSchema("output", filterTags="nothing")
    assert tagged.getPaths() == []


def test_dump_is_readable():
    text = device_schema().dump()
    assert text.startswith("Schema: Dev")
    assert "i32 (INT32)" in text and "accessMode: RECONFIGURABLE" in text and "start (SLOT)" in text
    assert "arr (NODE NDArray)" in text and "allowedStates: ON, OFF" in text
    assert str(device_schema()) == text
    assert device_schema().dump("node").splitlines()[1] == "node (NODE)"


@pytest.mark.parametrize("name", ["warnLow", "alarmHigh", "daqPolicy", "skipValidation", "leafType",
                                  "allowedActions", "needsAcknowledging", "relativeError"])
def test_removed_attributes_are_refused(name):
    with pytest.raises(RemovedInKarabo3Error, match="removed"):
        LeafElement("x", Types.DOUBLE, **{name: 1})


def test_removed_enum_members_are_refused():
    with pytest.raises(RemovedInKarabo3Error):
        LeafElement("x", Types.DOUBLE, requiredAccessLevel=AccessLevel.USER)
    with pytest.raises(RemovedInKarabo3Error):
        ArchivePolicy.EVERY_1S  # noqa: B018


def test_declaration_errors():
    with pytest.raises(TypeError, match="unexpected keyword"):
        LeafElement("x", Types.DOUBLE, minimum=1)
    with pytest.raises(ValueError, match="illegal character"):
        LeafElement("a-b", Types.DOUBLE)
    with pytest.raises(ValueError, match="illegal character"):
        LeafElement("1a", Types.DOUBLE)
    with pytest.raises(KeyError, match="not a node"):
        LeafElement("missing.x", Types.DOUBLE).commit(Schema("S"))
    with pytest.raises(ValueError, match="upper bound"):
        LeafElement("x", Types.INT32, defaultValue=11, maxInc=10).commit(Schema("S"))
    with pytest.raises(ValueError, match="valid options"):
        LeafElement("x", Types.STRING, defaultValue="c", options=["a", "b"]).commit(Schema("S"))
    with pytest.raises(TypeError, match="valueType HASH"):
        LeafElement("x", Types.HASH)


def test_table_initonly_columns_become_reconfigurable(caplog):
    row = Schema()
    LeafElement("c", Types.INT32, defaultValue=1).commit(row)
    s = Schema("T")
    TableElement("t", row, defaultValue=[Hash("c", 2)]).commit(s)
    assert s.getRowSchema("t").isAccessReconfigurable("c")
    assert "INITONLY" in caplog.text
    assert row.isAccessInitOnly("c")  # the caller's row schema is untouched


def test_slot_has_no_value_attributes():
    s = Schema("S")
    SlotElement("go", displayedName="Go").commit(s)
    attrs = s.hash.getAttributes("go")
    assert "valueType" not in attrs and "defaultValue" not in attrs
    assert s.getRequiredAccessLevel("go") == AccessLevel.OPERATOR


def test_vector_default_typed_like_property():
    s = Schema("S")
    LeafElement("v", Types.VECTOR_UINT16, defaultValue=[1, 2]).commit(s)
    d = s.getDefaultValue("v")
    assert isinstance(d, np.ndarray) and d.dtype == np.uint16
    LeafElement("w", Types.VECTOR_STRING, defaultValue="a,b").commit(s)
    assert s.getDefaultValue("w") == ["a", "b"]


def test_every_way_of_obtaining_a_schema_value_gives_the_full_schema():
    import copy

    from pykarabo import decodeBinary, decodeXML, encodeBinary, encodeXML

    h = Hash()
    h["s"] = Schema("Dev", Hash("x", Hash()))
    for got in (decodeBinary(encodeBinary(h)), decodeXML(encodeXML(h)), h.copy(), copy.deepcopy(h)):
        assert type(got["s"]) is Schema
        assert got["s"].getRootName() == "Dev"
