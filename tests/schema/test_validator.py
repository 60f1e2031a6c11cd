"""The Validator: Karabo 3's rules (§4.4) and message style (§1.10)."""

import numpy as np
import pytest

from pykarabo import Hash, NDArray, Types
from pykarabo.errors import ValidationError
from pykarabo.schema import ValidationRules, Validator
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
