"""The Validator: Karabo 3's rules (§4.4) and message style (§1.10)."""

import numpy as np
import pytest

from pykarabo import Hash, NDArray, Types
from pykarabo.errors import ValidationError
from pykarabo.access import AccessMode
from pykarabo.schema import LeafElement, Schema, TableElement, ValidationRules, Validator, commitAll
from pykarabo.states import State
from pykarabo.timestamp import Epochstamp, Timestamp
from tests.schema.device_schema import device_schema

SPARSE = ValidationRules(injectDefaults=False, injectTimestamps=False)


def fails(config, message, rules=None, **kw):
    with pytest.raises(ValidationError) as info:
        Validator(rules).validate(device_schema(), config, **kw)
    assert str(info.value) == message
    return info.value


def test_defaults_injected_in_schema_order():
    out = Validator().validate(device_schema(), Hash("mand", 1.5))
    assert out.getKeys()[:6] == ["i32", "ro", "init", "mand", "d", "vec"]
    assert out["i32"] == 3 and out.getType("ro") is Types.UINT32 and out["node.x"] == 1
    assert out.getType("mand") is Types.FLOAT and out["table"] == []
    assert out["state"] == "UNKNOWN" and out.getAttribute("state", "indicateState") is True
    assert out.getAttribute("alarmCondition", "__classId") == "AlarmCondition"
    assert out["output.hostname"] == "default" and out["input.maxQueueLength"] == 2
    assert out.getAttribute("output", "__classId") == "OutputChannel"
    assert "start" not in out and out["output.schema"].empty()
    assert list(out["arr.shape"]) == [10] and out["arr.type"] == int(Types.FLOAT)


def test_karabo_messages():
    e = fails(Hash(), 'Missing mandatory parameter: "mand"')
    assert (e.path, e.rule) == ("mand", "mandatory")
    e = fails(Hash("mand", 1, "i32", 100), 'Value 100 for parameter "i32" is out of upper bound 100')
    assert (e.path, e.rule) == ("i32", "maxExc")
    fails(Hash("mand", 1, "i32", -1), 'Value -1 for parameter "i32" is out of lower bound 0')
    fails(Hash("mand", 1, "nonexist", 1), 'Encountered unexpected configuration parameter: "nonexist"')
    fails(Hash("mand", 1, "node.y", 1), 'Encountered unexpected configuration parameter: "node.y"')
    fails(Hash("mand", 1, "init", "c"), "Value 'c' for parameter \"init\" is not one of the valid options: a,b")
    fails(Hash("mand", "x"), "Failed to cast the value of parameter \"mand\" from STRING to FLOAT "
                             "(value as string: 'x')")
    fails(Hash("mand", 1, "vec", []), 'Number of elements (0) for (vector-)parameter "vec" is smaller '
                                      'than lower bound (1)')
    fails(Hash("mand", 1, "vec", [1.0] * 6), 'Number of elements (6) for (vector-)parameter "vec" is '
                                             'greater than upper bound (5)')
    fails(Hash("mand", 1, "state", "FOO"), "Value 'FOO' for parameter \"state\" is not a valid state string")
    fails(Hash("mand", 1, "alarmCondition", "bad"),
          "Value 'bad' for parameter \"alarmCondition\" is not a valid alarm string")
    fails(Hash("mand", 1, "start", 5), "There is configuration provided for Slot 'start'")
    fails(Hash("mand", 1, "output.schema.count", 1),
          "Configuring output channel schema is not allowed: 'output.schema'")
    fails(Hash("mand", 1, "node", 5), 'Parameter "node" has incorrect node type, expecting HASH not INT32')
    e = fails(Hash("mand", 1, "table", [Hash("a", "x")]),
              "Failed to cast the value of parameter \"table[0].a\" from STRING to INT32 (value as string: 'x')")
    assert e.path == "table[0].a"
    fails(Hash("mand", 1, "table", [Hash("b", 1)]), 'Encountered unexpected configuration parameter: "table[0].b"')


def test_coercion_of_compatible_values():
    v = Validator(SPARSE)
    out = v.validate(device_schema(), Hash("i32", "7", "mand", 2, "d", "1e-3", "vec", [1, 2], "bb", 1,
                                           "init", "b", "ro", 5))
    assert out["i32"] == 7 and out.getType("i32") is Types.INT32
    assert out["mand"] == 2.0 and out.getType("mand") is Types.FLOAT
    assert out["d"] == 0.001 and out["vec"].dtype == np.float64 and out["bb"] is True
    assert out.getType("ro") is Types.UINT32
    assert v.validate(device_schema(), Hash("i32", 1.9))["i32"] == 1      # C++ truncates
    assert list(v.validate(device_schema(), Hash("vec", "1,2.5"))["vec"]) == [1.0, 2.5]
    h = Hash()
    h.setAs("i32", 2**40, Types.INT64)
    with pytest.raises(ValidationError, match="from INT64 to INT32"):
        v.validate(device_schema(), h)
    with pytest.raises(ValidationError, match="from INT32 to BOOL"):
        v.validate(device_schema(), Hash("bb", 2))
    with pytest.raises(ValidationError, match="to UINT32"):
        v.validate(device_schema(), Hash("ro", -1))


def test_sparse_validation_keeps_only_given_keys():
    out = Validator(SPARSE).validate(device_schema(), Hash("node.x", 3))
    assert out.getPaths() == ["node.x"] and out.getType("node.x") is Types.INT64


def test_table_rows_completed_with_defaults():
    out = Validator(SPARSE).validate(device_schema(), Hash("table", [Hash(), Hash("a", "4")]))
    assert [r["a"] for r in out["table"]] == [1, 4]


def test_rooted_configurations():
    rooted = ValidationRules(allowUnrootedConfiguration=False, injectDefaults=False, injectTimestamps=False)
    out = Validator(rooted).validate(device_schema(), Hash("Dev", Hash("i32", 4)))
    assert out["Dev.i32"] == 4
    fails(Hash("Other", Hash()), 'Wrong schema for given input. Schema describes class "Dev", whilst input '
                                 'wants to configure class "Other"', rooted)
    fails(Hash("a", 1, "b", 2), "Expecting a rooted input, i.e. a Hash with exactly one key (describing the "
                                "classId) at the top level", rooted)


def test_additional_keys_allowed_by_rule():
    rules = ValidationRules(injectDefaults=False, allowAdditionalKeys=True, injectTimestamps=False)
    out = Validator(rules).validate(device_schema(), Hash("zz", 1, "node.zz", 2))
    assert out["zz"] == 1 and out["node.zz"] == 2


def test_strict_mode():
    rules = ValidationRules(injectDefaults=False, injectTimestamps=False, strict=True)
    s = device_schema()
    full = Validator().validate(s, Hash("mand", 1.0))
    del full["state"]
    with pytest.raises(ValidationError, match="Missing parameter 'state' in strict mode"):
        Validator(rules).validate(s, full)
    full = Validator().validate(s, Hash("mand", 1.0))
    full.setAs("ro", 1, Types.INT32)
    with pytest.raises(ValidationError, match="Expect 'UINT32', but got 'INT32' for ro"):
        Validator(rules).validate(s, full)


def test_timestamps():
    stamp = Timestamp(Epochstamp(100, 5), 42)
    rules = ValidationRules(injectDefaults=False)
    given = Hash("i32", 1, "mand", 2.0)
    for name, value in (("sec", 7), ("frac", 8), ("tid", 9)):
        given.setAttribute("mand", name, value, Types.UINT64)
    out = Validator(rules).validate(device_schema(), given, stamp)
    assert Timestamp.fromHashAttributes(out.getAttributes("i32")) == stamp
    assert out.getAttribute("mand", "tid") == 9          # kept unless forced
    rules.forceInjectedTimestamp = True
    out = Validator(rules).validate(device_schema(), given, stamp)
    assert out.getAttribute("mand", "tid") == 42 and out.getAttributeType("mand", "sec") is Types.UINT64


def test_reconfiguration_rules():
    v = Validator(SPARSE)
    s = device_schema()
    assert v.validate(s, Hash("i32", 5, "d", 2.0), reconfiguring=True, currentState=State.ON)["d"] == 2.0
    with pytest.raises(ValidationError, match=r'^Encountered unexpected configuration parameter: "ro" \(READONLY'):
        v.validate(s, Hash("ro", 1), reconfiguring=True)
    with pytest.raises(ValidationError, match=r'parameter: "init" \(INITONLY'):
        v.validate(s, Hash("init", "a"), reconfiguring=True)
    with pytest.raises(ValidationError, match=r'"d" \(not allowed in state "ERROR", allowed states: OFF,ON\)') as e:
        v.validate(s, Hash("d", 2.0), reconfiguring=True, currentState=State.ERROR)
    assert e.value.rule == "allowed states"
    with pytest.raises(ValidationError, match='"output.hostname" \\(INITONLY'):
        v.validate(s, Hash("output.hostname", "x"), reconfiguring=True)
    # without reconfiguring, access modes are not a validation concern (as in Karabo)
    assert v.validate(s, Hash("ro", 1, "init", "b"))["init"] == "b"


def test_ndarray_values_checked_against_declaration():
    v = Validator(SPARSE)
    s = device_schema()
    out = v.validate(s, Hash("arr", NDArray(np.zeros(10, np.float32))))
    assert out["arr"].dtype == np.float32
    with pytest.raises(ValidationError, match='NDArray "arr" holds DOUBLE data, but the schema requires FLOAT'):
        v.validate(s, Hash("arr", NDArray(np.zeros(10))))
    with pytest.raises(ValidationError, match=r'NDArray "arr" has shape \[3\]'):
        v.validate(s, Hash("arr", NDArray(np.zeros(3, np.float32))))


def test_schema_edit_invalidates_compiled_form():
    s = device_schema()
    v = Validator(SPARSE)
    v.validate(s, Hash("i32", 50))
    s.setMaxInc("i32", 10)
    with pytest.raises(ValidationError, match="upper bound 10"):
        v.validate(s, Hash("i32", 50))


def regex_schema():
    rw = AccessMode.RECONFIGURABLE
    return commitAll(Schema("R"), [
        LeafElement("rx", Types.STRING, regex="^[a-z]+[0-9]?$", classId="RegexString", defaultValue="ab",
                    accessMode=rw),
        LeafElement("vrx", Types.VECTOR_STRING, regex="0|1", defaultValue=["0"], accessMode=rw),
        LeafElement("blob", Types.BYTE_ARRAY, maxSize=4, accessMode=rw),
    ])


def test_regex_pattern_checked_like_middlelayer():
    s, v = regex_schema(), Validator(SPARSE)
    assert v.validate(s, Hash("rx", "abc1", "vrx", ["1", "0", "10"]))["rx"] == "abc1"   # match() anchors the start only
    with pytest.raises(ValidationError) as info:
        v.validate(s, Hash("rx", "Abc"))
    assert str(info.value) == "Value 'Abc' for parameter \"rx\" does not comply with regex pattern ^[a-z]+[0-9]?$"
    assert (info.value.path, info.value.rule) == ("rx", "regex")
    with pytest.raises(ValidationError, match=r"Value '2' at index 1 of parameter \"vrx\" does not comply"):
        v.validate(s, Hash("vrx", ["0", "2"]))
    with pytest.raises(ValueError, match='Default value of "rx2" is invalid'):
        LeafElement("rx2", Types.STRING, regex="^a", defaultValue="b").commit(regex_schema())


def test_sizes_of_tables_and_byte_arrays():
    e = fails(Hash("mand", 1, "rows", []), "Table at 'rows' must have at least 1 row; it has 0.")
    assert (e.path, e.rule) == ("rows", "minSize")
    fails(Hash("mand", 1, "rows", [Hash("a", 1)] * 3), "Table at 'rows' must have no more than 2 rows; it has 3.")
    # the rows are counted before they are validated, as Karabo does
    fails(Hash("mand", 1, "rows", [Hash("a", "x")] * 3), "Table at 'rows' must have no more than 2 rows; it has 3.")
    with pytest.raises(ValidationError, match=r'Number of elements \(5\) for \(vector-\)parameter "blob"'):
        Validator(SPARSE).validate(regex_schema(), Hash("blob", bytearray(5)))


def test_sizes_checked_when_defaults_are_injected_and_in_table_rows():
    rw = AccessMode.RECONFIGURABLE
    row = commitAll(Schema(), [LeafElement("v", Types.VECTOR_INT32, minSize=2, defaultValue=[1, 2], accessMode=rw)])
    s = commitAll(Schema("T"), [TableElement("t", row, defaultValue=[Hash()], accessMode=rw)])
    assert list(Validator().validate(s, Hash())["t"][0]["v"]) == [1, 2]
    with pytest.raises(ValidationError, match=r'Number of elements \(1\) for \(vector-\)parameter "t\[0\].v"'):
        Validator(SPARSE).validate(s, Hash("t", [Hash("v", [1])]))
    with pytest.raises(ValueError, match=r'Default value of "v" is invalid: Number of elements \(0\)'):
        LeafElement("v", Types.VECTOR_INT32, minSize=2, defaultValue=[]).commit(Schema())


def test_rules_that_do_not_fit_the_type_are_refused_at_declaration():
    for kw, t, message in ((dict(minInc=1), Types.STRING, "limits apply to numeric scalars"),
                           (dict(maxExc=1), Types.VECTOR_INT32, "limits apply to numeric scalars"),
                           (dict(minSize=1), Types.INT32, "sizes apply to vectors"),
                           (dict(regex="a"), Types.INT32, "patterns apply to STRING and VECTOR_STRING")):
        with pytest.raises(TypeError, match=message):
            LeafElement("x", t, **kw)
    with pytest.raises(ValueError, match="not a valid pattern"):
        LeafElement("x", Types.STRING, regex="(")
    s = Schema()
    with pytest.raises(ValueError, match=r'minInc \(5\) of "x" does not leave room below maxExc \(5\)'):
        LeafElement("x", Types.INT32, minInc=5, maxExc=5).commit(s)
    assert not s.has("x")


def test_sparse_leaves_keep_their_attributes_and_get_fresh_copies():
    stamp = Timestamp(Epochstamp(100, 5), 42)
    given = Hash("i32", 4, "vec", [1.0], "init", "a")
    given.setAttribute("i32", "tid", 7, Types.UINT64)       # an incomplete time stamp is replaced
    given.setAttribute("i32", "note", ["x"])
    out = Validator(ValidationRules(injectDefaults=False)).validate(device_schema(), given, stamp)
    assert out.getAttribute("i32", "tid") == 42 and out.getAttribute("i32", "note") == ["x"]
    assert out.getAttribute("i32", "sec") == 100 and out.getAttributeType("i32", "frac") is Types.UINT64
    out.setAttribute("i32", "tid", 1, Types.UINT64)
    out.getAttribute("i32", "note").append("y")
    assert given.getAttribute("i32", "tid") == 7 and given.getAttribute("i32", "note") == ["x"]
    assert Timestamp.fromHashAttributes(out.getAttributes("init")) == stamp
    out.setAttribute("init", "tid", 1, Types.UINT64)
    assert Timestamp.fromHashAttributes(out.getAttributes("vec")) == stamp   # stamps are not shared
