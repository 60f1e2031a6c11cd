"""``BoundPipeToZeroMQ``, the Karabo Bridge as a bound (threaded) device.

The same device as the middlelayer ``PipeToZeroMQ`` (same properties, states and behaviour),
written with the bound API; both map their properties onto a ``BridgeService``.
"""

from __future__ import annotations

import zmq

from pykarabo.bound import (BOOL_ELEMENT, DOUBLE_ELEMENT, INPUT_CHANNEL, KARABO_CLASSINFO, OVERWRITE_ELEMENT,
                            STRING_ELEMENT, UINT64_ELEMENT, VECTOR_STRING_ELEMENT, ChannelMetaData, Hash, InputView,
                            PythonDevice, Schema, State, Unit, Worker)
from pykarabo.bridge.service import DEFAULT_ADDRESS, TICK, BridgeService

__all__ = ["BoundPipeToZeroMQ"]


@KARABO_CLASSINFO("BoundPipeToZeroMQ", "1.0")
class BoundPipeToZeroMQ(PythonDevice):
    """Serves the trains of its input channel to Karabo Bridge clients (``karabo_bridge.Client``, EXtra-foam)."""

    @staticmethod
    def expectedParameters(expected: Schema) -> None:
        (
            OVERWRITE_ELEMENT(expected).key("state")
            .setNewOptions(State.INIT, State.ON, State.ACTIVE, State.ERROR).setNewDefaultValue(State.INIT).commit(),
            STRING_ELEMENT(expected).key("address").displayedName("Address")
            .description("ZeroMQ endpoint to bind; a TCP port of * or 0 binds a free port")
            .assignmentOptional().defaultValue(DEFAULT_ADDRESS).init().commit(),
            STRING_ELEMENT(expected).key("endpoint").displayedName("Endpoint")
            .description("The endpoint actually bound, for clients to connect to").readOnly().commit(),
            STRING_ELEMENT(expected).key("pattern").displayedName("Pattern")
            .description("REP answers 'next' requests (REQ clients); PUB and PUSH send every train")
            .options("REP,PUB,PUSH").assignmentOptional().defaultValue("REP").init().commit(),
            STRING_ELEMENT(expected).key("protocol").displayedName("Protocol")
            .options(["2.2", "1.0"]).assignmentOptional().defaultValue("2.2").init().commit(),
            VECTOR_STRING_ELEMENT(expected).key("sources").displayedName("Sources")
            .description("Sources (deviceId:channel) to serve and wait for; empty: every connected output")
            .assignmentOptional().defaultValue([]).init().commit(),
            VECTOR_STRING_ELEMENT(expected).key("keys").displayedName("Keys")
            .description("Globs of the keys to serve, e.g. image.*; empty: all")
            .assignmentOptional().defaultValue([]).init().commit(),
            STRING_ELEMENT(expected).key("layout").displayedName("Layout")
            .description("Detector layout of image.data: file (pulses, modules, ss, fs) as received, "
                         "or online (modules, fs, ss, pulses)")
            .options("file,online").assignmentOptional().defaultValue("file").init().commit(),
            DOUBLE_ELEMENT(expected).key("maxWait").displayedName("Max wait")
            .description("How long a train waits for all its sources").unit(Unit.SECOND)
            .assignmentOptional().defaultValue(0.5).minInc(0.0).reconfigurable().commit(),
            BOOL_ELEMENT(expected).key("sendIncomplete").displayedName("Send incomplete")
            .description("Send trains that lack sources after maxWait (else drop them)")
            .assignmentOptional().defaultValue(True).reconfigurable().commit(),
            UINT64_ELEMENT(expected).key("trainsSent").displayedName("Trains sent").readOnly().initialValue(0)
            .commit(),
            UINT64_ELEMENT(expected).key("trainsDropped").displayedName("Trains dropped")
            .description("Trains not sent: the queue was full (slow clients) or they were incomplete")
            .readOnly().initialValue(0).commit(),
            UINT64_ELEMENT(expected).key("incompleteTrains").displayedName("Incomplete trains").readOnly()
            .initialValue(0).commit(),
            DOUBLE_ELEMENT(expected).key("rate").displayedName("Rate").description("Trains sent per second")
            .unit(Unit.HERTZ).readOnly().initialValue(0.0).commit(),
            DOUBLE_ELEMENT(expected).key("dataRate").displayedName("Data rate")
            .description("Megabytes sent per second").readOnly().initialValue(0.0).commit(),
            INPUT_CHANNEL(expected).key("input").displayedName("Input").commit(),
        )

    def __init__(self, configuration: Hash) -> None:
        super().__init__(configuration)
        self._service: BridgeService | None = None
        self._ticker: Worker | None = None
        self.KARABO_ON_DATA("input", self.onData)
        self.KARABO_ON_EOS("input", self.onEndOfStream)
        self.registerInitialFunction(self.initialization)

    def initialization(self) -> None:
        try:
            self._service = BridgeService(self["address"], self["pattern"], self["protocol"],
                                          sources=self["sources"] or self["input.connectedOutputChannels"],
                                          keys=self["keys"], max_wait=self["maxWait"],
                                          send_incomplete=self["sendIncomplete"], layout=self["layout"])
        except (zmq.ZMQError, ValueError) as exc:
            status = f"Cannot serve on {self['address']}: {exc}"
            self.log.ERROR(status)
            self.updateState(State.ERROR, Hash("status", status))
            return
        self.updateState(State.ON, Hash("endpoint", self._service.endpoint,
                                        "status", f"Serving {self['pattern']} on {self._service.endpoint}"))
        self._ticker = Worker(self._tick, timeout=int(TICK * 1000)).start()

    def onData(self, data: Hash, meta: ChannelMetaData) -> None:
        service = self._service     # preDestruction may clear it meanwhile, in another thread
        if service is not None:
            service.add(data, meta.getSource(), meta.getTimestamp())

    def onEndOfStream(self, input: InputView) -> None:
        service = self._service
        if service is not None:
            service.end_of_stream()

    def _tick(self) -> None:
        service = self._service
        if service is None:
            return
        changed = service.tick()
        if changed:
            state = State.ACTIVE if service.active else State.ON
            if self["state"] != state.value:
                self.updateState(state, Hash(changed))
            else:
                self.set(Hash(changed))

    def postReconfigure(self) -> None:
        if self._service is not None:
            self._service.configure(max_wait=self["maxWait"], send_incomplete=self["sendIncomplete"])

    def preDestruction(self) -> None:
        if self._ticker is not None:
            self._ticker.stop()
            self._ticker.join(2)
        if self._service is not None:
            self._service.close()
            self._service = None
