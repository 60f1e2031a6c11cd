"""``Macro``: a device-like script whose slots switch it from PASSIVE to ACTIVE while they run.

As in Karabo, a slot of a macro is only callable while the macro is passive, the caller's reply comes
when the slot's body has finished, and ``cancel`` stops it. A :class:`MacroSlot` instead runs its body in
the background and replies at once. What the macro's code prints (``print(...)`` in its slots, in their
worker threads and in the tasks they start) is published as the ``print`` property, at most every
``PRINT_THROTTLE`` seconds and once more when the slot ends; ``doNotCompressEvents`` counts the
publications, so a client sees every chunk even when two chunks are equal.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import threading
from collections import deque
from typing import Any

from pykarabo import Hash
from pykarabo.access import AccessLevel, AccessMode
from pykarabo.middlelayer.configurable import Configurable
from pykarabo.middlelayer.descriptors import Int32, Overwrite, Slot, String
from pykarabo.middlelayer.device import Device
from pykarabo.middlelayer.synchronization import currentInstance
from pykarabo.states import State

__all__ = ["Macro", "MacroSlot", "run_macro"]

PRINT_THROTTLE = 0.5   # seconds between two publications of printed text (Karabo's value)
PRINT_BACKLOG = 100    # chunks of text kept between publications; older ones are dropped


class MacroSlot(Slot):
    """A macro slot whose body runs in the background: the call returns at once.

    The device is ``activeState`` while the body runs and ``passiveState`` afterwards; the slot is
    only callable in ``passiveState`` unless ``allowedStates`` says otherwise.
    """

    def __init__(self, activeState: State = State.ACTIVE, passiveState: State = State.PASSIVE,
                 **kwargs: Any) -> None:
        if activeState == passiveState:
            raise ValueError("MacroSlot: activeState and passiveState must differ")
        kwargs.setdefault("allowedStates", [passiveState])
        super().__init__(**kwargs)
        self.activeState = activeState
        self.passiveState = passiveState


class _MacroOutput:
    """``sys.stdout``/``sys.stderr`` while macros run: text written by a macro's code goes to that macro.

    The macro is found through the context the code runs in (its slots, their threads and tasks);
    everything else passes through to the stream that was there before.
    """

    def __init__(self, base: Any) -> None:
        self.base = base

    def write(self, text: str) -> int:
        macro = currentInstance.get()
        if isinstance(macro, Macro) and macro.is_initialized and not macro._stopping:
            macro.printToConsole(text)
            return len(text)
        return self.base.write(text)

    def flush(self) -> None:
        self.base.flush()

    def isatty(self) -> bool:
        return False

    def __getattr__(self, name: str) -> Any:   # fileno, encoding, ... of the real stream
        return getattr(self.base, name)


_running: set = set()   # macros online in this process; the streams are redirected while there are any
_streamsLock = threading.Lock()


def _redirect(macro: Macro) -> None:
    with _streamsLock:
        _running.add(macro)
        for name in ("stdout", "stderr"):
            if not isinstance(getattr(sys, name), _MacroOutput):
                setattr(sys, name, _MacroOutput(getattr(sys, name)))


def _release(macro: Macro) -> None:
    with _streamsLock:
        _running.discard(macro)
        if _running:
            return
        for name in ("stdout", "stderr"):
            stream = getattr(sys, name)
            if isinstance(stream, _MacroOutput):
                setattr(sys, name, stream.base)


class Macro(Device):
    """A script on the bus: its slots run one at a time, ``cancel`` stops the running one.

    ``currentSlot`` names the running slot, ``print`` shows what the macro printed.
    """

    abstractActiveState = State.ACTIVE
    abstractPassiveState = State.PASSIVE

    state = Overwrite(defaultValue=State.PASSIVE)
    project = String(displayedName="Project", description="The name of the project this macro belongs to",
                     defaultValue="__none__", accessMode=AccessMode.INITONLY,
                     requiredAccessLevel=AccessLevel.EXPERT)
    module = String(displayedName="Module", description="The name of the module in the project",
                    defaultValue="__none__", accessMode=AccessMode.INITONLY, requiredAccessLevel=AccessLevel.EXPERT)
    currentSlot = String(displayedName="Current slot", description="The name of the slot which is currently running",
                         accessMode=AccessMode.READONLY, defaultValue="")
    print = String(displayedName="Printed output", description="The output printed to the console",
                   accessMode=AccessMode.READONLY, defaultValue="", requiredAccessLevel=AccessLevel.EXPERT)
    doNotCompressEvents = Int32(displayedName="Number of prints", description="The number of prints issued so far",
                                accessMode=AccessMode.READONLY, defaultValue=0,
                                requiredAccessLevel=AccessLevel.EXPERT)

    @Slot(displayedName="Cancel")
    async def cancel(self):
        """Cancel the running slot (if any)."""
        if self._running is not None:
            self._running.cancel()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Slots of a macro are callable in the passive state only, unless they say otherwise.
        for name, value in list(cls.__dict__.items()):
            if isinstance(value, Slot) and "allowedStates" not in value.kwargs:
                new = value.withOverwrite({"allowedStates": [cls.abstractPassiveState]})
                setattr(cls, name, new)
        super().__init_subclass__(**kwargs)

    def __init__(self, configuration: Any = None) -> None:
        super().__init__(configuration)
        self._running: asyncio.Task | None = None
        self._printed: deque[str] = deque(maxlen=PRINT_BACKLOG)
        self._printLock = threading.Lock()

    _onServer = True   # False when run from a script (run_macro): a client, printing to the terminal

    @classmethod
    def main(cls, argv: list[str] | None = None) -> None:
        """Run from a command line: ``argv[1]`` names the slot, ``key=value`` arguments configure the macro."""
        argv = sys.argv if argv is None else argv
        if len(argv) < 2:
            slots = [name for name, d in cls._descriptors.items() if isinstance(d, Slot) and name != "cancel"]
            print(f"usage: {argv[0] if argv else cls.__name__} SLOT [key=value ...]; slots: {', '.join(slots)}")
            return
        run_macro(cls, argv[1], dict(arg.split("=", 1) for arg in argv[2:]))

    def _instanceInfo(self) -> Hash:
        info = super()._instanceInfo()
        info["type"] = "macro" if self._onServer else "client"
        info["project"] = self._core.parameters["project"]
        info["module"] = self._core.parameters["module"]
        return info

    async def _start(self, broker: str | None, topic: str | None) -> None:
        await super()._start(broker, topic)
        if self._onServer:
            _redirect(self)
            self._background(self._publishPrintsPeriodically())

    async def _shutdown(self) -> None:
        _release(self)
        await super()._shutdown()

    # ---- printed output ------------------------------------------------------------------------------

    def printToConsole(self, text: str) -> None:
        """Keep ``text`` for the next publication of ``print`` (any thread)."""
        if text:
            with self._printLock:
                self._printed.append(text)

    def _publishPrints(self) -> None:
        with self._printLock:
            text = "".join(self._printed)
            self._printed.clear()
        if text:
            self.doNotCompressEvents = self.doNotCompressEvents.value + 1
            self.print = text

    async def _publishPrintsPeriodically(self) -> None:
        while True:
            await asyncio.sleep(PRINT_THROTTLE)
            self._publishPrints()

    # ---- running slots -------------------------------------------------------------------------------

    async def _callSlot(self, descriptor: Slot, owner: Configurable) -> Any:
        if descriptor is type(self).cancel:
            return await super()._callSlot(descriptor, owner)
        if isinstance(descriptor, MacroSlot):
            active, passive = descriptor.activeState, descriptor.passiveState
        else:
            active, passive = self.abstractActiveState, self.abstractPassiveState
        self.state = active
        self.currentSlot = descriptor.key
        body = self._runBody(descriptor, owner, passive)
        if isinstance(descriptor, MacroSlot):
            self._running = self._background(body)   # failures are logged: nobody waits for them
            return None
        self._running = self._loop.create_task(body)
        self._tasks.add(self._running)               # still cancelled when the macro is killed
        self._running.add_done_callback(self._tasks.discard)
        # The reply waits for the body; a cancel of the body (not of this call) replies None, as in Karabo.
        return await asyncio.shield(self._running)

    async def _runBody(self, descriptor: Slot, owner: Configurable, passive: State) -> Any:
        try:
            return await self._run(descriptor.method, owner)
        except asyncio.CancelledError:
            self.logger.info("%s: slot %s cancelled", self._core.deviceId, descriptor.key)
            await self.onCancelled(descriptor)
            return None
        except Exception as exc:
            if isinstance(descriptor, MacroSlot):   # nobody waits for the reply: the hook is all there is
                await self.onException(descriptor, exc, exc.__traceback__)
            raise
        finally:
            self._running = None
            self._publishPrints()
            self.currentSlot = ""
            self.state = passive



def run_macro(cls: type[Macro], slot: str, config: dict | None = None, *, broker: str | None = None,
              topic: str | None = None) -> Any:
    """Run ``slot`` of the macro class ``cls`` once from a script: the macro joins the bus as a client
    (broker and topic as for every instance: arguments, else ``$KARABO_BROKER``...), runs and leaves."""
    descriptor = cls._descriptors.get(slot)
    if not isinstance(descriptor, Slot):
        raise KeyError(f"{cls.__name__} has no slot {slot!r}")
    config = dict(config or {})
    config.setdefault("deviceId", f"{cls.__name__}_{socket.gethostname().partition('.')[0]}_{os.getpid()}")

    async def run() -> Any:
        macro = cls(config)
        macro._onServer = False
        await macro.startInstance(broker=broker, topic=topic)
        try:
            return await macro._callSlot(descriptor, macro)
        finally:
            await macro.slotKillDevice()
    return asyncio.run(run())
