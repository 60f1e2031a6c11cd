"""A device Schema with every element kind, declared through pykarabo.schema.elements (shared by the tests)."""

from pykarabo import Hash, Types
from pykarabo.access import AccessLevel, AccessMode, ArchivePolicy, Assignment
from pykarabo.schema import (
    AlarmElement,
    ImageDataElement,
    InputChannelElement,
    LeafElement,
    NDArrayElement,
    NodeElement,
    OutputChannelElement,
    Schema,
    SlotElement,
    StateElement,
    TableElement,
    commitAll,
)
from pykarabo.states import State
from pykarabo.units import MetricPrefix, Unit

RW = AccessMode.RECONFIGURABLE


def device_schema() -> Schema:
    """The equivalent of the peer's ``bound_schema()`` (plus state, alarm and image elements)."""
    row = commitAll(Schema(), [LeafElement("a", Types.INT32, defaultValue=1, accessMode=RW)])
    data = commitAll(Schema(), [LeafElement("count", Types.INT32, accessMode=AccessMode.READONLY,
                                            defaultValue=0)])
    return commitAll(Schema("Dev"), [
        LeafElement("i32", Types.INT32, displayedName="I", description="d", tags="a", defaultValue=3,
                    minInc=0, maxExc=100, accessMode=RW),
        LeafElement("ro", Types.UINT32, accessMode=AccessMode.READONLY, defaultValue=0,
                    archivePolicy=ArchivePolicy.NO_ARCHIVING),
        LeafElement("init", Types.STRING, options="a,b", defaultValue="a"),
        LeafElement("mand", Types.FLOAT, assignment=Assignment.MANDATORY, accessMode=RW),
        LeafElement("d", Types.DOUBLE, unitSymbol=Unit.VOLT, metricPrefixSymbol=MetricPrefix.MILLI,
                    defaultValue=1.0, allowedStates=[State.ON, State.OFF],
                    requiredAccessLevel=AccessLevel.EXPERT, accessMode=RW),
        LeafElement("vec", Types.VECTOR_DOUBLE, minSize=1, maxSize=5, defaultValue=[1.0, 2.0], accessMode=RW),
        NodeElement("node", displayedName="N"),
        LeafElement("node.x", Types.INT64, assignment=Assignment.INTERNAL, defaultValue=1),
        TableElement("table", row, defaultValue=[], accessMode=RW),
        TableElement("rows", row, defaultValue=[Hash("a", 1)], minSize=1, maxSize=2, accessMode=RW),
        NDArrayElement("arr", dtype=Types.FLOAT, shape=[10]),
        SlotElement("start", allowedStates=[State.OFF]),
        LeafElement("bb", Types.BOOL, accessMode=AccessMode.READONLY, defaultValue=True),
        OutputChannelElement("output", dataSchema=data),
        InputChannelElement("input"),
        StateElement("state"),
        AlarmElement("alarmCondition"),
        ImageDataElement("img", dtype=Types.UINT16, shape=[4, 5]),
    ])
