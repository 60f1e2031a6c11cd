"""Threaded output: a producer waiting in update() reads its single input's requests itself.

The reader thread of the connection lends the socket and takes it back when the producer stops
reading or more inputs connect; closing, timeouts and lost inputs behave as without lending.
"""

import threading
import time

import pytest

from pykarabo.errors import KaraboTimeoutError
from pykarabo.pipeline import END_OF_STREAM, InputChannel, OutputChannel
from tests.pipeline.test_handlers import item
from tests.polling import pollUntil

T = 10.0


def until(predicate, timeout: float = T) -> None:
    assert pollUntil(predicate, timeout, interval=0.01)


class Consumer:
    """A ``wait`` input whose data handler records train ids and blocks while ``gate`` is clear."""

    def __init__(self, out: OutputChannel, **kw):
        self.tids = []
        self.gate = threading.Event()
        self.gate.set()
        self.eos = threading.Event()
        self.inp = InputChannel([out.connectionInfo], onSlowness="wait", onData=self._onData,
                                onEndOfStream=lambda _: self.eos.set(), **kw)

    def _onData(self, data, meta):
        assert self.gate.wait(T)
        self.tids.append(meta.tid)


def produce(out: OutputChannel, tids) -> None:
    for t in tids:
        out.write(item(t), timestamp=(0, 0, t))
        out.update(timeout=T)


def blockedWhileLent(out: OutputChannel) -> Consumer:
    """A consumer of ``out`` whose handler now blocks, after the producer began reading its requests."""
    c = Consumer(out, queueCapacity=1)
    out.waitForInputs(1, timeout=T)
    produce(out, range(50))
    assert out._borrowed is not None
    c.gate.clear()                                   # the handler blocks: the output must wait
    return c


def test_producer_reads_while_it_produces_and_gives_the_socket_back():
    with OutputChannel() as out:
        c = Consumer(out)
        out.waitForInputs(1, timeout=T)
        produce(out, range(200))
        assert out._borrowed is not None            # the producer reads the updates itself
        until(lambda: out._borrowed is None)         # it stopped: the reader thread took over
        produce(out, range(200, 300))
        out.signalEndOfStream(timeout=T)
        assert c.eos.wait(T)
        assert c.tids == list(range(300))
        c.inp.close()
        until(lambda: out.inputs() == [])           # noticed while the producer is idle


def test_input_lost_while_the_producer_reads():
    with OutputChannel() as out:
        c = blockedWhileLent(out)
        threading.Timer(0.5, c.inp.close).start()
        t0 = time.monotonic()
        produce(out, range(50, 60))                  # returns once the input is gone
        assert time.monotonic() - t0 < 5
        assert out.inputs() == []
        c.gate.set()


def test_update_times_out_and_close_unblocks_while_the_producer_reads():
    with OutputChannel() as out:
        c = blockedWhileLent(out)
        t0 = time.monotonic()
        with pytest.raises(KaraboTimeoutError):
            for t in range(50, 60):
                out.write(item(t), timestamp=(0, 0, t))
                out.update(timeout=0.3)
        assert time.monotonic() - t0 < 3
        threading.Timer(0.3, out.close).start()
        t0 = time.monotonic()
        out.write(item(60))
        out.update()                                 # no timeout: closing ends the wait
        assert time.monotonic() - t0 < 5
        c.gate.set()
        c.inp.close()


def test_a_second_input_takes_the_socket_back_from_the_producer():
    with OutputChannel() as out:
        a = Consumer(out)
        out.waitForInputs(1, timeout=T)
        produce(out, range(100))
        assert out._borrowed is not None
        b = InputChannel([out.connectionInfo], onSlowness="wait")
        out.waitForInputs(2, timeout=T)
        got = []

        def consume():
            while (x := b.get(timeout=T)) is not END_OF_STREAM:
                got.append(x[1].tid)
        th = threading.Thread(target=consume, daemon=True)
        th.start()
        produce(out, range(100, 200))
        assert out._borrowed is None
        out.signalEndOfStream(timeout=T)
        th.join(T)
        assert a.eos.wait(T)
        assert a.tids == list(range(200)) and got == list(range(100, 200))
        a.inp.close()
        b.close()
