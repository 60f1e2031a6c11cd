"""Tests of AlarmCondition."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pykarabo.alarms import AlarmCondition
from pykarabo.errors import KaraboError, RemovedInKarabo3Error

conditions = st.sampled_from(list(AlarmCondition))


def test_members_and_values():
    assert [(c.name, c.value) for c in AlarmCondition] == [
        ("NONE", "none"),
        ("WARN", "warn"),
        ("ALARM", "alarm"),
        ("INTERLOCK", "interlock"),
    ]
    assert AlarmCondition.criticalityList() == list(AlarmCondition)


def test_severity_order_not_alphabetical():
    # "warn" > "alarm" as strings, but WARN is less severe than ALARM.
    assert AlarmCondition.WARN < AlarmCondition.ALARM
    assert AlarmCondition.ALARM > AlarmCondition.WARN
    assert not AlarmCondition.WARN > AlarmCondition.ALARM
    assert AlarmCondition.NONE < AlarmCondition.WARN < AlarmCondition.ALARM < AlarmCondition.INTERLOCK
    assert AlarmCondition.WARN <= "alarm"


def test_string_behaviour():
    assert AlarmCondition.WARN == "warn"
    assert {"warn": 1}[AlarmCondition.WARN] == 1
    assert AlarmCondition.fromString("alarm") is AlarmCondition.ALARM
    assert AlarmCondition.ALARM.asString() == "alarm"
    assert AlarmCondition.INTERLOCK.criticalityLevel() is AlarmCondition.INTERLOCK


def test_comparison_with_other_types_fails():
    with pytest.raises(TypeError):
        AlarmCondition.WARN < 1  # noqa: B015
    with pytest.raises(ValueError):
        AlarmCondition.WARN < "critical"  # noqa: B015


@given(conditions, conditions)
def test_total_order(a, b):
    assert (a < b) + (a == b) + (a > b) == 1
    assert (a <= b) == (not a > b)
    assert (a >= b) == (not a < b)
    assert a.isSameCriticality(b) == (a == b)


@given(conditions, conditions, conditions)
def test_order_is_transitive(a, b, c):
    if a <= b and b <= c:
        assert a <= c


@given(conditions, conditions)
def test_returnMoreSignificant(a, b):
    result = a.returnMoreSignificant(b)
    assert result == max(a, b)
    assert result == b.returnMoreSignificant(a)


@given(st.lists(conditions))
def test_returnMostSignificant(items):
    expected = max(items, key=lambda c: c.level) if items else AlarmCondition.NONE
    assert AlarmCondition.returnMostSignificant(items) is expected
    assert AlarmCondition.returnMostSignificant(list(reversed(items))) is expected
    assert AlarmCondition.returnMostSignificant([str(c.value) for c in items]) is expected


@pytest.mark.parametrize("name", ["WARN_LOW", "WARN_HIGH", "ALARM_LOW", "ALARM_HIGH", "WARN_VARIANCE_LOW"])
def test_removed_threshold_names(name):
    with pytest.raises(RemovedInKarabo3Error, match="removed in Karabo 3"):
        getattr(AlarmCondition, name)
    with pytest.raises(RemovedInKarabo3Error):
        AlarmCondition[name]


@pytest.mark.parametrize("value", ["warnLow", "alarmHigh", "alarmVarianceLow"])
def test_removed_threshold_values(value):
    with pytest.raises(RemovedInKarabo3Error, match="removed in Karabo 3") as info:
        AlarmCondition.fromString(value)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, KaraboError)
