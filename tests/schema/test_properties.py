"""Property tests: idempotent validation, rejections that always name the path, binary round trips."""

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pykarabo import Hash, Types, decodeBinary, encodeBinary
from pykarabo.access import AccessMode
from pykarabo.errors import ValidationError
from pykarabo.schema import LeafElement, NodeElement, Schema, ValidationRules, Validator
from tests.strategies import INT_RANGES, SCHEMA_STATES, schema_configurations, schema_values, schemas

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SPARSE = ValidationRules(injectDefaults=False, injectTimestamps=False)
RULE_SETS = [Validator().getValidationRules(), SPARSE,
             ValidationRules(injectDefaults=True, allowMissingKeys=True, injectTimestamps=False)]


@FAST
@given(st.data(), st.sampled_from(RULE_SETS))
def test_accepted_configuration_revalidates_unchanged(data, rules):
    schema = data.draw(schemas())
    config = data.draw(schema_configurations(schema))
    v = Validator(rules)
    try:
        first = v.validate(schema, config)
    except ValidationError as e:
        assert e.path and e.path.split("[")[0].split(".")[0] in set(schema.getKeys()) | set(config.getKeys())
        return
    again = v.validate(schema, first)
    assert again.fullyEqual(first), (first, again)


@FAST
@given(st.data())
def test_reconfiguring_readonly_or_initonly_is_rejected(data):
    schema = data.draw(schemas())
    paths = [p for p in schema.getPaths() if schema.isLeaf(p)
             and schema.getAccessMode(p) != AccessMode.RECONFIGURABLE]
    assume(paths)
    path = data.draw(st.sampled_from(paths))
    t = schema.getValueType(path)
    config = Hash()
    value = schema.getDefaultValue(path) if schema.hasDefaultValue(path) else data.draw(schema_values(t))
    config.setAs(path, value, t)
    with pytest.raises(ValidationError) as info:
        Validator(SPARSE).validate(schema, config, reconfiguring=True, currentState="ON")
    assert info.value.path == path and f'"{path}"' in str(info.value)
    assert info.value.rule == "access mode"


@FAST
@given(st.data())
def test_states_outside_allowed_states_are_rejected(data):
    states = data.draw(st.lists(st.sampled_from(SCHEMA_STATES), min_size=1, max_size=3, unique=True))
    current = data.draw(st.sampled_from([s for s in ("ON", "OFF", "MOVING", "ERROR", "INIT", "UNKNOWN")
                                         if s not in states]))
    schema = Schema("S")
    LeafElement("x", Types.DOUBLE, accessMode=AccessMode.RECONFIGURABLE, allowedStates=states,
                defaultValue=0.0).commit(schema)
    with pytest.raises(ValidationError, match=f'"x" .*state "{current}"') as info:
        Validator(SPARSE).validate(schema, Hash("x", 1.0), reconfiguring=True, currentState=current)
    assert info.value.path == "x" and info.value.rule == "allowed states"
    ok = Validator(SPARSE).validate(schema, Hash("x", 1.0), reconfiguring=True, currentState=states[0])
    assert ok["x"] == 1.0


NUMERIC = (*INT_RANGES, Types.FLOAT, Types.DOUBLE)


@FAST
@given(st.data(), st.sampled_from(NUMERIC), st.sampled_from(("minInc", "minExc", "maxInc", "maxExc")))
def test_values_outside_limits_are_rejected(data, t, limit):
    bound = data.draw(schema_values(t))
    if limit.startswith("min"):
        bad = data.draw(schema_values(t).filter(lambda x: x < bound if limit == "minInc" else x <= bound))
    else:
        bad = data.draw(schema_values(t).filter(lambda x: x > bound if limit == "maxInc" else x >= bound))
    schema = Schema("S")
    LeafElement("n", t, accessMode=AccessMode.RECONFIGURABLE, **{limit: bound}).commit(schema)
    config = Hash()
    config.setAs("n", bad, t)
    with pytest.raises(ValidationError, match='parameter "n" is out of (lower|upper) bound') as info:
        Validator(SPARSE).validate(schema, config, reconfiguring=True)
    assert info.value.path == "n" and info.value.rule == limit


@FAST
@given(st.data(), st.sampled_from((*INT_RANGES, Types.DOUBLE, Types.STRING)))
def test_values_outside_options_are_rejected(data, t):
    options = data.draw(st.lists(schema_values(t), min_size=1, max_size=4, unique=True))
    bad = data.draw(schema_values(t).filter(lambda x: x not in options))
    schema = Schema("S")
    LeafElement("o", t, accessMode=AccessMode.RECONFIGURABLE, options=options).commit(schema)
    config = Hash()
    config.setAs("o", bad, t)
    with pytest.raises(ValidationError, match='parameter "o" is not one of the valid options') as info:
        Validator(SPARSE).validate(schema, config)
    assert info.value.path == "o"


@FAST
@given(schemas())
def test_random_schemas_roundtrip_binary(schema):
    back = decodeBinary(encodeBinary(Hash("s", schema)))["s"]
    assert type(back) is Schema and back == schema
    assert back.getPaths() == schema.getPaths()
    for path in schema.getPaths():
        if schema.isLeaf(path):
            assert back.getValueType(path) == schema.getValueType(path)


VECTORS = (Types.VECTOR_INT32, Types.VECTOR_UINT8, Types.VECTOR_DOUBLE, Types.VECTOR_BOOL, Types.VECTOR_STRING)


@FAST
@given(st.data(), st.sampled_from(VECTORS), st.booleans())
def test_vectors_outside_sizes_are_rejected(data, t, nested):
    lo = data.draw(st.integers(0, 4))
    hi = data.draw(st.integers(lo, lo + 4))
    size = data.draw(st.integers(0, hi + 4).filter(lambda n: n < lo or n > hi))
    path = "n.v" if nested else "v"
    schema = Schema("S")
    if nested:
        NodeElement("n").commit(schema)
    LeafElement(path, t, accessMode=AccessMode.RECONFIGURABLE, minSize=lo, maxSize=hi).commit(schema)
    config = Hash()
    config.setAs(path, data.draw(st.lists(schema_values(t.elementType), min_size=size, max_size=size)), t)
    for rules in RULE_SETS:
        with pytest.raises(ValidationError, match=f'for \\(vector-\\)parameter "{path}" is') as info:
            Validator(rules).validate(schema, config, reconfiguring=True)
        assert info.value.path == path and info.value.rule == ("minSize" if size < lo else "maxSize")


@FAST
@given(st.data())
def test_accepted_reconfigurations_touch_only_reconfigurable_leaves(data):
    schema = data.draw(schemas())
    config = data.draw(schema_configurations(schema))
    state = data.draw(st.sampled_from(SCHEMA_STATES))
    try:
        out = Validator(SPARSE).validate(schema, config, reconfiguring=True, currentState=state)
    except ValidationError as e:
        assert e.path and f"{e.path}" in str(e)
        return
    for path in out.getPaths():
        assert schema.getAccessMode(path) == AccessMode.RECONFIGURABLE, path
        assert not schema.hasAllowedStates(path) or state in schema.getAllowedStates(path), path
    assert Validator(SPARSE).validate(schema, out, reconfiguring=True, currentState=state).fullyEqual(out)
