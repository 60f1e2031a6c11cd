"""Karabo Schemas: the Schema model, the declarative element layer (with overwrites) and the Validator.

Importing this package makes decoded SCHEMA values instances of :class:`Schema`.
"""

from pykarabo.schema.elements import (
    AlarmElement,
    Element,
    ImageDataElement,
    InputChannelElement,
    LeafElement,
    NDArrayElement,
    NodeElement,
    OutputChannelElement,
    SlotElement,
    StateElement,
    TableElement,
    commitAll,
)
from pykarabo.schema.overwrite import OverwriteElement
from pykarabo.schema.schema import AssemblyRules, Schema
from pykarabo.schema.validator import ValidationRules, Validator

__all__ = [
    "AlarmElement",
    "AssemblyRules",
    "Element",
    "ImageDataElement",
    "InputChannelElement",
    "LeafElement",
    "NDArrayElement",
    "NodeElement",
    "OutputChannelElement",
    "OverwriteElement",
    "Schema",
    "SlotElement",
    "StateElement",
    "TableElement",
    "ValidationRules",
    "Validator",
    "commitAll",
]
