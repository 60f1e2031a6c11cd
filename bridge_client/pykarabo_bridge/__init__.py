"""Karabo Bridge client and message (de)serializer for European XFEL data streams."""

from .aio import AsyncClient
from .client import Client
from .errors import DecodeError
from .serializer import PROTOCOL_VERSIONS, deserialize, serialize

__version__ = "0.1.0"

__all__ = [
    "Client",
    "AsyncClient",
    "serialize",
    "deserialize",
    "DecodeError",
    "PROTOCOL_VERSIONS",
    "__version__",
]
