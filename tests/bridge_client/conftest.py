"""Fixtures for the pykarabo_bridge tests: loopback bridge servers in threads."""

import itertools
import threading
import time
from collections.abc import Callable, Iterator, Sequence

import pytest
import zmq

SERVER_SOCKETS = {"REP": zmq.REP, "PUB": zmq.PUB, "PUSH": zmq.PUSH}


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker of tests that need the reference karabo_bridge package."""
    config.addinivalue_line("markers", "interop: needs the reference karabo-bridge package")


class TrainServer:
    """Send prepared multipart messages from a thread over a loopback socket."""

    def __init__(
        self,
        kind: str,
        messages: Sequence[Sequence],
        *,
        repeat: bool = False,
        curve_secret_key: bytes | None = None,
        endpoint: str = "tcp://127.0.0.1:*",
        limit_s: float = 10.0,
    ) -> None:
        self.kind = kind
        self.messages = messages
        self.repeat = repeat
        self.limit_s = limit_s  # the thread gives up by itself after this
        self.requests: list[bytes] = []
        self.context = zmq.Context()
        self.socket = self.context.socket(SERVER_SOCKETS[kind])
        self.socket.linger = 0
        if curve_secret_key is not None:
            self.socket.curve_server = True
            self.socket.curve_secretkey = curve_secret_key
        self.socket.bind(endpoint)
        self.endpoint = self.socket.last_endpoint.decode()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "TrainServer":
        """Start serving in the background."""
        self._thread.start()
        return self

    def _wait(self, event: int, deadline: float) -> bool:
        """Poll in short slices so stop() and the time limit are honoured."""
        while not self._stop.is_set() and time.monotonic() < deadline:
            if self.socket.poll(20, event):
                return True
        return False

    def _run(self) -> None:
        deadline = time.monotonic() + self.limit_s
        messages = itertools.cycle(self.messages) if self.repeat else self.messages
        for message in messages:
            if self.kind == "REP":
                if not self._wait(zmq.POLLIN, deadline):
                    return
                self.requests.append(self.socket.recv())
            elif not self._wait(zmq.POLLOUT, deadline):
                return
            self.socket.send_multipart(message, copy=False)
            if self.kind == "PUB":
                time.sleep(0.01)  # don't spin while waiting for a slow joiner

    def stop(self) -> None:
        """Stop the thread and release the socket."""
        self._stop.set()
        if self._thread.is_alive() or self._thread.ident is not None:
            self._thread.join(5)
        self.socket.close(linger=0)
        self.context.term()


@pytest.fixture
def serve() -> Iterator[Callable[..., TrainServer]]:
    """Factory starting TrainServers that are stopped at teardown."""
    servers: list[TrainServer] = []

    def start(kind: str, messages: Sequence[Sequence], **options) -> TrainServer:
        server = TrainServer(kind, messages, **options)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()
