"""OverwriteElement: a derived class changes inherited attributes, within the elements' restrictions."""

import pytest

from pykarabo import Types, decodeBinary
from pykarabo.access import AccessLevel, AccessMode, Assignment
from pykarabo.schema import LeafElement, NodeElement, OverwriteElement, Schema, TableElement, Validator, commitAll
from pykarabo.states import State
from pykarabo.units import MetricPrefix, Unit
from tests.schema.device_schema import device_schema
from tests.schema.test_interop import assert_same_attributes

RW = AccessMode.RECONFIGURABLE

# The overwrites of schema_peer.overwritten_schema, in our keyword form.
OVERWRITES = [
    OverwriteElement("state", options=[State.ON, State.OFF], defaultValue=State.OFF),
    OverwriteElement("i32", displayedName="Gain", description="new", minInc=-5, maxExc=50, defaultValue=-1,
                     requiredAccessLevel=AccessLevel.EXPERT, accessMode=AccessMode.INITONLY, tags=["x", "y"]),
    OverwriteElement("init", options="a,b,c", defaultValue="c", accessMode=RW, allowedStates=[State.ON]),
    OverwriteElement("mand", assignment=Assignment.OPTIONAL, defaultValue=2.5, accessMode=AccessMode.READONLY),
    OverwriteElement("d", unitSymbol=Unit.AMPERE, metricPrefixSymbol=MetricPrefix.MICRO,
                     requiredAccessLevel=AccessLevel.OBSERVER),
    OverwriteElement("vec", minSize=2, maxSize=3),
    OverwriteElement("node.x", assignment=Assignment.MANDATORY),
    OverwriteElement("start", allowedStates=[State.ON, State.ERROR]),
]

# schema_peer.overwrite_errors, in our keyword form.
REFUSED = [
    OverwriteElement("state", displayedName="x"),
    OverwriteElement("nope"),
    OverwriteElement("table", minInc=1),
    OverwriteElement("init", options=[State.ON]),
    OverwriteElement("state", options="ON,OFF"),
    OverwriteElement("alarmCondition", options=[State.ON]),
    OverwriteElement("state", accessMode=RW),
]


def overwritten() -> Schema:
    return commitAll(device_schema(), OVERWRITES)


def refusal(element: OverwriteElement) -> str:
    with pytest.raises((KeyError, ValueError, TypeError)) as info:
        element.commit(device_schema())
    return info.value.args[0]


def test_overwrites_change_the_attributes():
    s = overwritten()
    assert s.getOptions("state") == ["ON", "OFF"] and s.getDefaultValue("state") == "OFF"
    assert s.getDisplayedName("i32") == "Gain" and s.getMinInc("i32") == -5 and s.getDefaultValue("i32") == -1
    assert s.getRequiredAccessLevel("i32") is AccessLevel.EXPERT and s.isAccessInitOnly("i32")
    assert s.getTags("i32") == ["x", "y"] and s.hash.getAttributeType("i32", "minInc") is Types.INT32
    assert s.getOptions("init") == ["a", "b", "c"] and s.isAccessReconfigurable("init")
    assert s.getAllowedStates("init") == [State.ON]
    assert s.isAssignmentOptional("mand") and s.isAccessReadOnly("mand")
    assert s.hash.getAttributeType("mand", "defaultValue") is Types.FLOAT
    assert s.getUnit("d") is Unit.AMPERE and s.getMetricPrefix("d") is MetricPrefix.MICRO
    assert s.hash.getAttributeType("vec", "minSize") is Types.UINT32 and s.getMaxSize("vec") == 3
    assert s.isAssignmentMandatory("node.x") and s.getAllowedStates("start") == [State.ON, State.ERROR]


def test_validator_follows_the_overwrites():
    s = overwritten()
    out = Validator().validate(s, device_schema_config())
    assert out["state"] == "OFF" and out["i32"] == -1 and out["init"] == "c"


def device_schema_config():
    from pykarabo import Hash

    return Hash("node.x", 3)


def test_refused_overwrites_leave_the_schema_unchanged():
    s = device_schema()
    before = s.copy()
    with pytest.raises(ValueError, match=r'Default value of "i32" is invalid: Value 200 .* upper bound 100'):
        OverwriteElement("i32", displayedName="changed", defaultValue=200).commit(s)
    with pytest.raises(ValueError, match='does not leave room'):
        OverwriteElement("i32", minInc=10, maxExc=5).commit(s)
    with pytest.raises(ValueError, match="not one of the valid options: x,y"):
        OverwriteElement("init", options=["x", "y"]).commit(s)
    with pytest.raises(ValueError, match=r"minSize \(6\) .* maxSize \(5\)"):
        OverwriteElement("vec", minSize=6).commit(s)
    assert s == before


def test_keywords_that_do_not_fit_the_element_are_refused():
    s = device_schema()
    with pytest.raises(TypeError, match=r"Element \(node\) is a node: defaultValue apply to leaves only"):
        OverwriteElement("node", defaultValue=1).commit(s)
    with pytest.raises(TypeError, match='limits apply to numeric scalars, not to STRING'):
        OverwriteElement("init", maxInc=3).commit(s)
    with pytest.raises(TypeError, match="sizes apply to vectors"):
        OverwriteElement("i32", maxSize=3).commit(s)
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus'"):
        OverwriteElement("i32", bogus=1)
    with pytest.raises(AttributeError, match="warnLow"):
        OverwriteElement("i32", warnLow=1)


def test_nodes_take_descriptive_attributes():
    s = commitAll(Schema("S"), [NodeElement("n"), LeafElement("n.v", Types.INT32, defaultValue=1)])
    OverwriteElement("n", displayedName="Motor", requiredAccessLevel=AccessLevel.EXPERT).commit(s)
    assert s.getDisplayedName("n") == "Motor" and s.getRequiredAccessLevel("n") is AccessLevel.EXPERT


def test_restrictions_are_karabos_bool_vector():
    s = device_schema()
    flags = list(s.hash.getAttribute("table", "overwriteRestrictions"))
    assert len(flags) == 28 and s.hash.getAttributeType("table", "overwriteRestrictions") is Types.VECTOR_BOOL
    rows = commitAll(Schema(), [LeafElement("a", Types.INT32, accessMode=RW, defaultValue=0)])
    t = commitAll(Schema("S"), [TableElement("t", rows, defaultValue=[], accessMode=RW)])
    OverwriteElement("t", minSize=0, maxSize=4, displayedName="T").commit(t)
    assert t.getMaxSize("t") == 4


@pytest.mark.karabo
def test_same_result_as_karabos_overwrite_element(schema_peer):
    theirs = decodeBinary(schema_peer.schema_bytes("overwritten"))["s"]
    assert_same_attributes(theirs, overwritten())


@pytest.mark.karabo
def test_refused_like_karabo(schema_peer):
    expected = schema_peer.overwrite_errors()
    for element, message in zip(REFUSED, expected, strict=True):
        assert message is not None, element.key
        ours = refusal(element)
        # Karabo prefixes its exception kind ("Logic Exception: ...")
        assert message.split(": ", 1)[1] == ours, element.key
