"""``Worker``: Karabo's periodic callback thread for bound devices."""

from __future__ import annotations

import logging
import threading
from typing import Callable

__all__ = ["Worker"]

log = logging.getLogger(__name__)


class Worker(threading.Thread):
    """Call ``callback()`` every ``timeout`` ms in a daemon thread (once if ``single_shot``).

    A ``timeout`` below zero means "no pause between calls". ``stop()`` ends the loop after the
    running call, ``abort()`` as well without waiting; ``pause()``/``start()`` suspend and resume.
    """

    def __init__(self, callback: Callable[[], object], timeout: int = 1000, single_shot: bool = False) -> None:
        super().__init__(daemon=True, name=f"Worker {getattr(callback, '__name__', 'callback')}")
        if not callable(callback):
            raise TypeError(f"Worker needs a callable, not {type(callback).__name__}")
        self.callback = callback
        self.timeout = timeout
        self.single_shot = single_shot
        self._stopped = threading.Event()
        self._running = threading.Event()
        self._running.set()

    def start(self) -> Worker:
        """Start the thread, or resume after :meth:`pause`; returns the worker (Karabo chains ``.start()``)."""
        self._running.set()
        if self.ident is None:   # not started yet
            super().start()
        return self

    def run(self) -> None:
        while not self._stopped.is_set():
            self._running.wait()
            if self._stopped.is_set():
                return
            if self.timeout >= 0 and self._stopped.wait(self.timeout / 1000):
                return
            try:
                self.callback()
            except Exception:
                log.exception("worker callback %r failed", self.callback)
            if self.single_shot:
                return

    def pause(self) -> None:
        """Suspend the calls until :meth:`start`."""
        self._running.clear()

    def stop(self) -> None:
        """End the loop once the current call returned."""
        self._stopped.set()
        self._running.set()

    def abort(self) -> None:
        """Like :meth:`stop` (a running Python callback cannot be interrupted)."""
        self.stop()

    def is_running(self) -> bool:
        """Whether the thread is alive and not paused or stopped."""
        return self.is_alive() and self._running.is_set() and not self._stopped.is_set()
