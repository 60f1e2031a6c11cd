"""The exception hierarchy of pykarabo, rooted in :class:`KaraboError`."""

__all__ = [
    "KaraboError",
    "DeserializationError",
    "KaraboTimeoutError",
    "ValidationError",
    "RemovedInKarabo3Error",
]


class KaraboError(Exception):
    """Base class of every error raised by pykarabo."""


class DeserializationError(KaraboError, ValueError):
    """Raised by every decoder on malformed input; the message names the offset and what was expected."""


class KaraboTimeoutError(KaraboError, TimeoutError):
    """Raised when a request, reply or wait does not complete in time."""


class ValidationError(KaraboError, ValueError):
    """Raised when a value or configuration does not satisfy its schema."""


# Also a ValueError: removed enum *values* are looked up through calls such as
# ``AlarmCondition("warnLow")``, whose callers expect ValueError, while removed
# *names* are attribute look-ups, whose callers expect AttributeError.
class RemovedInKarabo3Error(KaraboError, AttributeError, ValueError):
    """Raised when using a feature of Karabo 2 that Karabo 3 removed."""
