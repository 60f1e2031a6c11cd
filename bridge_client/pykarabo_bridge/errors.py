"""Exception raised when a bridge message cannot be decoded."""


class DecodeError(ValueError):
    """A malformed bridge message; ``frame`` is the index of the offending frame."""

    def __init__(self, frame: int, reason: str) -> None:
        super().__init__(f"frame {frame}: {reason}")
        self.frame = frame
        self.reason = reason
