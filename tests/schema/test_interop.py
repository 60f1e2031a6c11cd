"""Schemas against real Karabo 3: its Schemas decode into ours and validate the same way; ours read back in C++."""

import pytest

from pykarabo import Hash, Types, decodeBinary, encodeBinary
from pykarabo.access import AccessMode
from pykarabo.errors import ValidationError
from pykarabo.schema import LeafElement, Schema, ValidationRules, Validator, commitAll
from tests.schema.device_schema import device_schema

pytestmark = pytest.mark.karabo

INSTANTIATE = {"injectDefaults": True, "allowUnrootedConfiguration": True, "allowAdditionalKeys": False,
               "allowMissingKeys": False, "injectTimestamps": False}
SPARSE = {"injectDefaults": False, "allowUnrootedConfiguration": True, "allowAdditionalKeys": False,
          "allowMissingKeys": True, "injectTimestamps": False}

# Configurations for the middlelayer reference device (schema_peer.mdl_schema).
MDL_CONFIGS = [
    Hash("mand", 1.5),
    Hash(),
    Hash("mand", 1.0, "i32", 100),
    Hash("mand", 1.0, "i32", 99, "u8", 200, "i64", -9),
    Hash("mand", 1.0, "i64", -10),
    Hash("mand", 1.0, "u8", 201),
    Hash("mand", 1.0, "i32", "7"),
    Hash("mand", "abc"),
    Hash("mand", 1.0, "init", "c"),
    Hash("mand", 1.0, "init", "b"),
    Hash("mand", 1.0, "vec", []),
    Hash("mand", 1.0, "vec", [1.0] * 6),
    Hash("mand", 1.0, "vec", [1, 2, 3]),
    Hash("mand", 1.0, "vs", ["a", "b"]),
    Hash("mand", 1.0, "node.gain", 11.0),
    Hash("mand", 1.0, "node.gain", 10.0, "node.mode", "slow"),
    Hash("mand", 1.0, "node.mode", "medium"),
    Hash("mand", 1.0, "nonexistent", 1),
    Hash("mand", 1.0, "node.nonexistent", 1),
    Hash("mand", 1.0, "table", [Hash("a", 5, "b", "y")]),
    Hash("mand", 1.0, "table", [Hash("a", "x")]),
    Hash("mand", 1.0, "table", [Hash("c", 1)]),
    Hash("mand", 1.0, "state", "ON"),
    Hash("mand", 1.0, "state", "NOT_A_STATE"),
    Hash("mand", 1.0, "start", 3),
    Hash("mand", 1.0, "flag", False, "stateful", 2.5, "rx", "abc"),
]


def ours(config: Hash, rules: dict, schema: Schema) -> tuple[bool, str, Hash | None]:
    try:
        return True, "", Validator(ValidationRules(**rules)).validate(schema, config)
    except ValidationError as e:
        return False, str(e), None


def test_mdl_schema_decodes_into_ours(schema_peer):
    s = decodeBinary(schema_peer.schema_bytes("mdl"))["s"]
    assert isinstance(s, Schema) and s.getRootName() == "Dev"
    assert s.getValueType("u8") is Types.UINT8 and s.getAccessMode("ro").name == "READONLY"
    assert s.isAssignmentMandatory("mand") and s.getDefaultValue("i32") == 3
    assert s.getMaxExc("i32") == 100 and s.getUnitSymbol("node.gain") == "V"
    assert s.getMetricPrefixSymbol("node.gain") == "m"
    assert s.isCommand("start") and [x.value for x in s.getAllowedStates("start")] == ["OFF"]
    assert s.getCustomNodeClass("arr") == "NDArray" and s.getCustomNodeClass("img") == "ImageData"
    assert s.getRowSchema("table").getKeys() == ["a", "b"]
    assert sorted(x.value for x in s.getAllowedStates("stateful")) == ["OFF", "ON"]
    assert s.getOptions("init") == ["a", "b"]


@pytest.mark.parametrize("rules", [INSTANTIATE, SPARSE], ids=["instantiate", "sparse"])
def test_mdl_schema_validates_like_karabo(schema_peer, rules):
    data = schema_peer.schema_bytes("mdl")
    schema = decodeBinary(data)["s"]
    for config in MDL_CONFIGS:
        theirs = schema_peer.validate(data, config, rules)
        ok, message, result = ours(config, rules, schema)
        assert ok == theirs["ok"], (config, message, theirs["message"])
        if ok:
            expected = decodeBinary(theirs["result"])
            assert result.fullyEqual(expected, False), (config, result, expected)
        else:
            # Karabo lists every problem, one a line; we report its first, naming full table paths.
            assert message.replace("table[0].", "") == theirs["message"].splitlines()[0], config


def assert_same_attributes(theirs: Schema, mine: Schema) -> None:
    """Every path of ``theirs`` is in ``mine`` with equal attributes, of equal types (extra ones allowed)."""
    # presentation attributes of the bound builders that our element layer writes differently or not at all
    skip = {"description", "displayedName", "unitEnum", "unitName", "metricPrefixEnum", "metricPrefixName",
            "unitSymbol", "metricPrefixSymbol", "displayType", "rowSchema"}
    for path in theirs.getPaths():
        assert mine.has(path), path
        a = {k: v for k, v in theirs.hash.getAttributes(path).items() if k not in skip}
        b = {k: v for k, v in mine.hash.getAttributes(path).items() if k not in skip}
        for key in a:
            assert key in b, (path, key)
            t = theirs.hash.getAttributeType(path, key)
            assert t == mine.hash.getAttributeType(path, key), (path, key)
            x, y = Hash(), Hash()
            x.setAs("v", a[key], t)
            y.setAs("v", b[key], t)
            assert x.fullyEqual(y), (path, key, a[key], b[key])


def test_bound_schema_and_ours_agree(schema_peer):
    """Our declaration of the peer's bound device equals Karabo's Schema on every attribute that matters."""
    assert_same_attributes(decodeBinary(schema_peer.schema_bytes("bound"))["s"], device_schema())


def test_karabo_reads_our_schema(schema_peer):
    mine = device_schema()
    data = encodeBinary(Hash("s", mine))
    report = schema_peer.read(data)
    assert report["rootName"] == "Dev"
    assert decodeBinary(report["roundtrip"])["s"] == mine       # C++ keeps every key, type and attribute
    paths = report["paths"]
    assert list(paths) == mine.getPaths()
    for path, info in paths.items():
        attrs = mine.hash.getAttributes(path)
        assert set(info["attrs"]) == set(attrs.keys()), path
        for key, (_, type_name) in info["attrs"].items():
            assert mine.hash.getAttributeType(path, key).name == type_name, (path, key)
        assert info["isCommand"] == mine.isCommand(path)
        assert info["isLeaf"] == mine.isLeaf(path)
        if info["isLeaf"]:
            assert info["valueType"] == mine.getValueType(path).name
            assert info["accessMode"] == int(mine.getAccessMode(path))
            assert info["assignment"] == mine.getAssignment(path).name
            assert info["hasDefaultValue"] == mine.hasDefaultValue(path)
        if "allowedStates" in info:
            assert info["allowedStates"] == [s.value for s in mine.getAllowedStates(path)]
        if "unit" in info:
            assert info["unit"] == mine.getUnitSymbol(path)


@pytest.mark.parametrize("rules", [INSTANTIATE, SPARSE], ids=["instantiate", "sparse"])
def test_our_schema_validates_like_karabo(schema_peer, rules):
    mine = device_schema()
    data = encodeBinary(Hash("s", mine))
    for config in MDL_CONFIGS[:13] + [Hash("mand", 1.0, "d", 3.0), Hash("mand", 1.0, "node.x", 4),
                                      Hash("mand", 1.0, "table", [Hash("a", 2)]),
                                      Hash("mand", 1.0, "alarmCondition", "warn"),
                                      Hash("mand", 1.0, "output.schema.count", 1),
                                      Hash("mand", 1.0, "rows", []),
                                      Hash("mand", 1.0, "rows", [Hash("a", 1)] * 3),
                                      Hash("mand", 1.0, "rows", [Hash("a", 1), Hash("a", 2)])]:
        theirs = schema_peer.validate(data, config, rules)
        ok, message, result = ours(config, rules, mine)
        assert ok == theirs["ok"], (config, message, theirs["message"])
        if ok:
            assert result.fullyEqual(decodeBinary(theirs["result"]), False), config
        else:
            assert message.replace("table[0].", "") == theirs["message"].splitlines()[0], config


REGEX_CASES = [
    ("^[a-z]+[0-9]?$", ["abc1", "Abc", "abc12", "", "x9"]),
    ("0|1", ["0", "1", "10", "2", "01"]),
    ("a.*z", ["az", "abcz", "za", "a\nz", "xaz"]),
    (r"\d{2,3}", ["12", "1", "1234", "ab12"]),
]


@pytest.mark.parametrize(("regex", "values"), REGEX_CASES)
def test_regex_strings_accepted_like_middlelayer(schema_peer, regex, values):
    """The C++ Validator ignores ``regex``; we check it as middlelayer's RegexString descriptors do."""
    vectors = [[v] for v in values] + [values]
    theirs = schema_peer.regex(regex, values, vectors)
    rw = AccessMode.RECONFIGURABLE
    schema = commitAll(Schema("R"), [LeafElement("s", Types.STRING, regex=regex, accessMode=rw),
                                     LeafElement("v", Types.VECTOR_STRING, regex=regex, accessMode=rw)])
    for value, accepted in zip(values, theirs["string"], strict=True):
        assert ours(Hash("s", value), SPARSE, schema)[0] == accepted, value
    for value, accepted in zip(vectors, theirs["vector"], strict=True):
        assert ours(Hash("v", value), SPARSE, schema)[0] == accepted, value
