"""One API for awaiting code and for blocking code (Karabo's ``@synchronize``), plus background tasks and waits.

A synchronized function called in a thread that runs an event loop returns a coroutine to await. Called
from any other thread (a script, the shell, a plain ``def`` slot) it runs the coroutine on the loop that
thread belongs to (a device's loop for its worker threads, else a process-wide background loop) and
blocks until it is done; there it also accepts ``timeout=`` (seconds) and ``wait=False`` (returns a
``concurrent.futures.Future``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import inspect
import logging
import threading
from typing import Any, Awaitable, Callable

from pykarabo.errors import KaraboTimeoutError

log = logging.getLogger(__name__)

__all__ = ["synchronize", "eventLoop", "background", "sleep", "firstCompleted", "allCompleted", "firstException",
           "gather", "inLoopThread", "runInThread", "Changed", "currentInstance"]

# The device (or client) on whose behalf the running task talks to the bus.
currentInstance: contextvars.ContextVar = contextvars.ContextVar("currentInstance", default=None)

_local = threading.local()   # .loop: the loop owning this (worker) thread
_eventThread: tuple[asyncio.AbstractEventLoop, threading.Thread] | None = None
_eventThreadLock = threading.Lock()


def eventLoop() -> asyncio.AbstractEventLoop:
    """The loop blocking calls of this thread run on (started in a daemon thread on first use)."""
    loop = getattr(_local, "loop", None)
    if loop is not None and not loop.is_closed():
        return loop
    global _eventThread
    with _eventThreadLock:
        if _eventThread is None or _eventThread[0].is_closed():
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def run() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()
            thread = threading.Thread(target=run, name="karabo-event-loop", daemon=True)
            thread.start()
            ready.wait()
            _eventThread = (loop, thread)
        return _eventThread[0]


def inLoopThread() -> bool:
    """Whether the calling thread runs an event loop (then synchronized functions must be awaited)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _blocking(coro: Awaitable, timeout: float | None, wait: bool) -> Any:
    future = asyncio.run_coroutine_threadsafe(coro, eventLoop())
    if not wait:
        return future
    try:
        return future.result(timeout)
    except concurrent.futures.TimeoutError:
        if future.done():   # the coroutine's own timeout (the same exception class since Python 3.11)
            raise
        future.cancel()
        raise KaraboTimeoutError(f"no result within {timeout} s") from None


def synchronize(function: Callable) -> Callable:
    """Make the coroutine function ``function`` usable both awaited (in a loop) and blocking (elsewhere)."""
    ownTimeout = "timeout" in inspect.signature(function).parameters

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        timeout = None if ownTimeout else kwargs.pop("timeout", None)
        wait = kwargs.pop("wait", True)
        if inLoopThread():
            coro = function(*args, **kwargs)
            return coro if timeout is None else asyncio.wait_for(coro, timeout)
        return _blocking(function(*args, **kwargs), timeout, wait)
    return wrapper


def runInThread(loop: asyncio.AbstractEventLoop, function: Callable, *args: Any) -> Awaitable:
    """Run the plain ``function`` in an executor thread whose blocking Karabo calls go to ``loop``."""
    context = contextvars.copy_context()

    def run() -> Any:
        _local.loop = loop
        try:
            return context.run(function, *args)
        finally:
            _local.loop = None
    return loop.run_in_executor(None, run)


def _logFailure(task: Any) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background task failed", exc_info=task.exception())


def background(task: Callable | Awaitable, *args: Any, timeout: float = -1) -> Any:
    """Run ``task`` (coroutine, coroutine function or plain function) in the background; errors are logged.

    Returns an asyncio Task in a loop thread (owned by the current device, which cancels it when it is
    killed), else a concurrent Future.
    """
    async def run() -> Any:
        loop = asyncio.get_running_loop()
        if inspect.isawaitable(task):
            work = task
        elif inspect.iscoroutinefunction(task):
            work = task(*args)
        else:
            work = runInThread(loop, task, *args)
        return await (work if timeout is None or timeout < 0 else asyncio.wait_for(work, timeout))

    if inLoopThread():
        future = asyncio.get_running_loop().create_task(run())
        owner = currentInstance.get()
        if owner is not None:
            owner._adopt(future)   # cancelled when its device is killed; the device logs failures
            return future
    else:
        future = asyncio.run_coroutine_threadsafe(run(), eventLoop())
    _unowned.add(future)     # kept alive even if the caller drops it (the loop holds tasks weakly)
    future.add_done_callback(_unowned.discard)
    future.add_done_callback(_logFailure)
    return future


_unowned: set = set()


@synchronize
async def sleep(delay: float) -> None:
    """Sleep ``delay`` seconds (a number or a value with ``.value``); cancellable."""
    await asyncio.sleep(float(getattr(delay, "value", delay)))


async def _completed(mode: str, futures: tuple, named: dict, timeout: float | None, cancel_pending: bool) -> tuple:
    tasks: dict = {}
    for key, f in [*enumerate(futures), *named.items()]:
        tasks[key] = asyncio.ensure_future(f)
    waitMode = {"first": asyncio.FIRST_COMPLETED, "all": asyncio.ALL_COMPLETED,
                "exception": asyncio.FIRST_EXCEPTION}[mode]
    if tasks:
        await asyncio.wait(list(tasks.values()), timeout=timeout, return_when=waitMode)
    done, pending, errors = {}, {}, {}
    for key, t in tasks.items():
        if not t.done():
            pending[key] = t
        elif t.cancelled():
            errors[key] = asyncio.CancelledError()
        elif t.exception() is not None:
            errors[key] = t.exception()
        else:
            done[key] = t.result()
    if cancel_pending:
        for t in pending.values():
            t.cancel()
    return done, pending, errors


@synchronize
async def firstCompleted(*futures: Awaitable, timeout: float | None = None, cancel_pending: bool = True,
                         **named: Awaitable) -> tuple[dict, dict, dict]:
    """Wait for the first of ``futures`` to finish; returns ``(done, pending, errors)`` dicts."""
    return await _completed("first", futures, named, timeout, cancel_pending)


@synchronize
async def allCompleted(*futures: Awaitable, timeout: float | None = None, cancel_pending: bool = True,
                       **named: Awaitable) -> tuple[dict, dict, dict]:
    """Wait for all ``futures`` (or the timeout); returns ``(done, pending, errors)`` dicts."""
    return await _completed("all", futures, named, timeout, cancel_pending)


@synchronize
async def firstException(*futures: Awaitable, timeout: float | None = None, cancel_pending: bool = True,
                         **named: Awaitable) -> tuple[dict, dict, dict]:
    """Wait until one of ``futures`` fails or all are done; returns ``(done, pending, errors)`` dicts."""
    return await _completed("exception", futures, named, timeout, cancel_pending)


@synchronize
async def gather(*futures: Awaitable, return_exceptions: bool = False) -> list:
    """The results of all ``futures``, like ``asyncio.gather``."""
    return await asyncio.gather(*futures, return_exceptions=return_exceptions)


class Changed:
    """A "something changed" broadcast of one loop: waiters re-check their condition after each change."""

    def __init__(self) -> None:
        self._waiters: list[asyncio.Future] = []

    def notify(self) -> None:
        """Wake every waiter."""
        waiters, self._waiters = self._waiters, []
        for f in waiters:
            if not f.done():
                f.set_result(None)

    async def waitFor(self, predicate: Callable[[], bool], timeout: float | None, what: str) -> None:
        """Return once ``predicate()`` holds; KaraboTimeoutError(``what``) after ``timeout`` s."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while not predicate():
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                raise KaraboTimeoutError(what)
            future = loop.create_future()
            self._waiters.append(future)
            try:
                await asyncio.wait_for(future, remaining)
            except asyncio.TimeoutError:
                pass
