"""Waiting for a condition that another thread or process makes true."""

import time
from typing import Callable


def pollUntil(condition: Callable[[], object], timeout: float, interval: float = 0.2) -> bool:
    """Whether ``condition()`` became true within ``timeout`` seconds, asked every ``interval`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return False
