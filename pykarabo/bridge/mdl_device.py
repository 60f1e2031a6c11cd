"""``PipeToZeroMQ``, the Karabo Bridge as a middlelayer device: pipeline outputs in, bridge clients out.

Connect ``input`` to any number of outputs (``input.connectedOutputChannels``); their items are
matched by train ID and served on ``address`` as REP (default), PUB or PUSH, protocol 2.2 or
1.0.  The work is done by ``BridgeService`` (shared with the bound ``BoundPipeToZeroMQ``); the
device maps properties onto it.  A slow or absent client never slows the pipeline down: the
server keeps a bounded queue and counts what it drops (``trainsDropped``).
"""

from __future__ import annotations

import asyncio

import zmq

from pykarabo.bridge.service import DEFAULT_ADDRESS, TICK, BridgeService
from pykarabo.middlelayer import (AccessMode, Bool, Device, Double, InputChannel, Overwrite, State, String, UInt64,
                                  Unit, VectorString, background)

__all__ = ["PipeToZeroMQ"]

_RO = AccessMode.READONLY
_INIT = AccessMode.INITONLY


class PipeToZeroMQ(Device):
    """Serves the trains of its input channel to Karabo Bridge clients (``karabo_bridge.Client``, EXtra-foam)."""

    __version__ = "1.0"

    state = Overwrite(defaultValue=State.INIT, options=[State.INIT, State.ON, State.ACTIVE, State.ERROR])

    address = String(displayedName="Address", accessMode=_INIT, defaultValue=DEFAULT_ADDRESS,
                     description="ZeroMQ endpoint to bind; a TCP port of * or 0 binds a free port")
    endpoint = String(displayedName="Endpoint", accessMode=_RO, defaultValue="",
                      description="The endpoint actually bound, for clients to connect to")
    pattern = String(displayedName="Pattern", accessMode=_INIT, options=["REP", "PUB", "PUSH"], defaultValue="REP",
                     description="REP answers 'next' requests (REQ clients); PUB and PUSH send every train")
    protocol = String(displayedName="Protocol", accessMode=_INIT, options=["2.2", "1.0"], defaultValue="2.2")
    sources = VectorString(displayedName="Sources", accessMode=_INIT, defaultValue=[],
                           description="Sources (deviceId:channel) to serve and wait for; "
                                       "empty: every connected output")
    keys = VectorString(displayedName="Keys", accessMode=_INIT, defaultValue=[],
                        description="Globs of the keys to serve, e.g. image.*; empty: all")
    layout = String(displayedName="Layout", accessMode=_INIT, options=["file", "online"], defaultValue="file",
                    description="Detector layout of image.data: file (pulses, modules, ss, fs) as received, "
                                "or online (modules, fs, ss, pulses)")

    @Double(displayedName="Max wait", unitSymbol=Unit.SECOND, defaultValue=0.5, minInc=0.0,
            description="How long a train waits for all its sources")
    async def maxWait(self, value):
        self.maxWait = value
        if self._service is not None:
            self._service.configure(max_wait=float(value))

    @Bool(displayedName="Send incomplete", defaultValue=True,
          description="Send trains that lack sources after maxWait (else drop them)")
    async def sendIncomplete(self, value):
        self.sendIncomplete = value
        if self._service is not None:
            self._service.configure(send_incomplete=bool(value))

    trainsSent = UInt64(displayedName="Trains sent", accessMode=_RO, defaultValue=0)
    trainsDropped = UInt64(displayedName="Trains dropped", accessMode=_RO, defaultValue=0,
                           description="Trains not sent: the queue was full (slow clients) or they were incomplete")
    incompleteTrains = UInt64(displayedName="Incomplete trains", accessMode=_RO, defaultValue=0)
    rate = Double(displayedName="Rate", unitSymbol=Unit.HERTZ, accessMode=_RO, defaultValue=0.0,
                  description="Trains sent per second")
    dataRate = Double(displayedName="Data rate", accessMode=_RO, defaultValue=0.0,
                      description="Megabytes sent per second")

    def __init__(self, configuration=None):
        self._service: BridgeService | None = None
        super().__init__(configuration)

    @InputChannel(raw=True, displayedName="Input")
    async def input(self, data, meta):
        service = self._service
        if service is not None:
            service.add(data, meta.source, meta.timestamp)

    @input.endOfStream
    async def input(self, name):
        service = self._service
        if service is not None:
            service.end_of_stream()

    async def onInitialization(self):
        # self.input is the channel runner here, so the connections are read from the configuration
        connected = self.configurationAsHash().get("input.connectedOutputChannels", [])
        try:
            self._service = BridgeService(self.address.value, self.pattern.value, self.protocol.value,
                                          sources=list(self.sources.value) or list(connected),
                                          keys=list(self.keys.value),
                                          max_wait=float(self.maxWait.value),
                                          send_incomplete=bool(self.sendIncomplete.value), layout=self.layout.value)
        except (zmq.ZMQError, ValueError) as exc:
            self.status = f"Cannot serve on {self.address.value}: {exc}"
            self.state = State.ERROR
            self.logger.error("%s", self.status.value)
            return
        self.endpoint = self._service.endpoint
        self.status = f"Serving {self.pattern.value} on {self._service.endpoint}"
        self.state = State.ON
        background(self._tick())

    async def _tick(self):
        while True:
            await asyncio.sleep(TICK)
            service = self._service
            if service is None:     # onDestruction closed it
                return
            changed = service.tick()
            if changed:
                for key, value in changed.items():
                    setattr(self, key, value)
                state = State.ACTIVE if service.active else State.ON
                if self.state != state:
                    self.state = state

    async def onDestruction(self):
        if self._service is not None:
            self._service.close()
            self._service = None
