"""pykarabo: a Python implementation of the Karabo control and data system, wire-compatible with Karabo 3."""

from pykarabo._core.binary import (
    MAX_DEPTH,
    decodeBinary,
    decodeBinaryPos,
    encodeBinary,
    encodeBinaryBuffers,
    encodeBinaryLayout,
)
from pykarabo._core.hash import (
    Attributes,
    Encoding,
    Hash,
    ImageData,
    NDArray,
    Node,
    textToValue,
    valueToText,
)
from pykarabo._core.types import Types
from pykarabo.xml import decodeXML, encodeXML
from pykarabo.errors import DeserializationError, KaraboError, KaraboTimeoutError, ValidationError
from pykarabo.schema import Schema, Validator  # also makes decoders build this full Schema

__version__ = "0.1.0"

__all__ = [
    "Attributes",
    "DeserializationError",
    "Encoding",
    "Hash",
    "ImageData",
    "KaraboError",
    "KaraboTimeoutError",
    "MAX_DEPTH",
    "NDArray",
    "Node",
    "Schema",
    "Types",
    "ValidationError",
    "Validator",
    "decodeBinary",
    "decodeBinaryPos",
    "decodeXML",
    "encodeBinary",
    "encodeBinaryBuffers",
    "encodeBinaryLayout",
    "encodeXML",
    "textToValue",
    "valueToText",
]
