"""Tests of the schema attribute enums, units, metric prefixes and the error hierarchy."""

import pytest

from pykarabo import errors
from pykarabo.access import AccessLevel, AccessMode, AccessType, ArchivePolicy, Assignment, DaqDataType, NodeType
from pykarabo.errors import KaraboError, RemovedInKarabo3Error
from pykarabo.units import MetricPrefix, Unit


def test_numeric_values():
    assert {m.name: m.value for m in AccessLevel} == {"OBSERVER": 0, "OPERATOR": 1, "EXPERT": 2}
    assert {m.name: m.value for m in AccessMode} == {
        "UNDEFINED": -1,
        "INITONLY": 1,
        "READONLY": 2,
        "RECONFIGURABLE": 4,
    }
    assert {m.name: m.value for m in Assignment} == {"OPTIONAL": 0, "MANDATORY": 1, "INTERNAL": 2}
    assert {m.name: m.value for m in ArchivePolicy} == {"EVERY_EVENT": 0, "NO_ARCHIVING": 1}
    assert {m.name: m.value for m in NodeType} == {"LEAF": 0, "NODE": 1}
    assert {m.name: m.value for m in DaqDataType} == {"PULSE": 0, "TRAIN": 1}


def test_access_mode_is_the_access_type_mask():
    assert AccessMode.INITONLY == AccessType.INIT
    assert AccessMode.READONLY == AccessType.READ
    assert AccessMode.RECONFIGURABLE == AccessType.WRITE


def test_middlelayer_node_type_spelling():
    assert NodeType.Leaf is NodeType.LEAF
    assert NodeType.Node is NodeType.NODE


def test_fromAttributes():
    attrs = {"requiredAccessLevel": 2, "accessMode": 4, "assignment": 1, "archivePolicy": 1, "nodeType": 0}
    assert AccessLevel.fromAttributes(attrs) is AccessLevel.EXPERT
    assert AccessMode.fromAttributes(attrs) is AccessMode.RECONFIGURABLE
    assert Assignment.fromAttributes(attrs) is Assignment.MANDATORY
    assert ArchivePolicy.fromAttributes(attrs) is ArchivePolicy.NO_ARCHIVING
    assert NodeType.fromAttributes(attrs) is NodeType.LEAF
    assert DaqDataType.fromAttributes(attrs) is None


@pytest.mark.parametrize(
    ("enum", "name", "hint"),
    [
        (AccessLevel, "USER", "OPERATOR"),
        (AccessLevel, "ADMIN", "EXPERT"),
        (ArchivePolicy, "EVERY_1S", "EVERY_EVENT"),
        (NodeType, "CHOICE_OF_NODES", "choice"),
        (NodeType, "LIST_OF_NODES", "list"),
    ],
)
def test_removed_names_raise_clearly(enum, name, hint):
    with pytest.raises(RemovedInKarabo3Error, match=f"{enum.__name__}.{name} was removed in Karabo 3.*{hint}"):
        getattr(enum, name)
    with pytest.raises(RemovedInKarabo3Error):
        enum[name]
    with pytest.raises(RemovedInKarabo3Error):
        enum(name)
    assert not hasattr(enum, name)


def test_other_missing_names_are_plain_errors():
    with pytest.raises(AttributeError) as info:
        AccessLevel.SUPERUSER  # noqa: B018
    assert not isinstance(info.value, RemovedInKarabo3Error)
    with pytest.raises(KeyError):
        AccessLevel["SUPERUSER"]
    with pytest.raises(ValueError):
        AccessLevel(3)


def test_units():
    assert len(Unit) == 47
    assert Unit.VOLT == "V"
    assert Unit.OHM.unitSymbol == "Ω"
    assert Unit.DEGREE_CELSIUS.unitName == "degree_celsius"
    assert Unit.NUMBER.unitEnum == 0
    assert Unit.OHM.unitEnum == 21
    assert Unit.REVOLUTIONS_PER_MINUTE.unitEnum == 46
    assert Unit.fromEnum(26) is Unit.DEGREE_CELSIUS
    assert [u.unitEnum for u in Unit] == list(range(47))
    assert Unit.fromAttributes({"unitSymbol": "m/s"}) is Unit.METER_PER_SECOND
    assert Unit.fromAttributes({"unitEnum": 19}) is Unit.VOLT
    assert Unit.fromAttributes({}) is None
    with pytest.raises(ValueError):
        Unit.fromEnum(-1)


def test_metric_prefixes():
    assert len(MetricPrefix) == 21
    assert MetricPrefix.MICRO == "u"
    assert MetricPrefix.NONE.metricPrefixSymbol == ""
    assert MetricPrefix.NONE.metricPrefixName == ""
    assert MetricPrefix.NONE.metricPrefixEnum == 10
    assert MetricPrefix.MILLI.metricPrefixName == "milli"
    assert MetricPrefix.MICRO.metricPrefixEnum == 14
    assert [p.exponent for p in MetricPrefix] == sorted((p.exponent for p in MetricPrefix), reverse=True)
    assert MetricPrefix.KILO.exponent == 3
    assert MetricPrefix.fromAttributes({"metricPrefixSymbol": "da"}) is MetricPrefix.DECA
    assert MetricPrefix.fromAttributes({"metricPrefixEnum": 13}) is MetricPrefix.MILLI
    with pytest.raises(ValueError):
        MetricPrefix.fromEnum(21)


def test_error_hierarchy():
    assert issubclass(errors.DeserializationError, (KaraboError, ValueError))
    assert issubclass(errors.DeserializationError, ValueError)
    assert issubclass(errors.KaraboTimeoutError, TimeoutError)
    assert issubclass(errors.KaraboTimeoutError, KaraboError)
    assert issubclass(errors.ValidationError, ValueError)
    assert issubclass(errors.ValidationError, KaraboError)
    assert issubclass(RemovedInKarabo3Error, AttributeError)
    assert issubclass(RemovedInKarabo3Error, KaraboError)
    for name in errors.__all__:
        assert getattr(errors, name).__doc__
