"""Input handlers (onData / onInput / onEndOfStream) on both transports."""

import asyncio
import threading
import time

import numpy as np

from pykarabo import Hash
from pykarabo.pipeline import InputChannel, OutputChannel, aio

T = 10.0


def item(tid: int) -> Hash:
    h = Hash()
    h["image"] = np.full(100, tid % 256, np.uint8)
    h["trainId"] = tid
    return h


def test_threads_handlers_in_order_and_parallel():
    barrier = threading.Barrier(2, timeout=T)     # both inputs' handlers must run at once
    got = {0: [], 1: []}
    messages = {0: 0, 1: 0}
    eos = {0: threading.Event(), 1: threading.Event()}

    def handlers(k):
        def onData(data, meta):
            if not got[k]:
                barrier.wait()
            got[k].append((meta.tid, int(data["trainId"]), int(data["image"][0])))

        def onInput(items):
            messages[k] += 1
            assert all(m.source == "p:out" for _, m in items)
        return dict(onData=onData, onInput=onInput, onEndOfStream=lambda inp: eos[k].set())

    with OutputChannel(source="p:out") as out:
        inputs = [InputChannel([out.connectionInfo], onSlowness="wait", **handlers(k)) for k in (0, 1)]
        out.waitForInputs(2, timeout=T)
        for t in range(40):
            out.write(item(t), timestamp=(0, 0, t))
            if t % 4 == 3:
                out.update(timeout=T)
        out.signalEndOfStream(timeout=T)
        for k in (0, 1):
            assert eos[k].wait(T)
            assert got[k] == [(t, t, t) for t in range(40)]
            assert messages[k] == 10
        for i in inputs:
            i.close()


def test_threads_handler_registered_late_and_failing():
    seen = []
    done = threading.Event()

    def onData(data, meta):
        seen.append(meta.tid)
        if meta.tid == 1:
            raise RuntimeError("a failing handler must not stop the input")

    with OutputChannel() as out:
        inp = InputChannel([out.connectionInfo], onSlowness="wait")
        out.waitForInputs(1, timeout=T)
        out.write(item(0), timestamp=(0, 0, 0))
        out.update(timeout=T)
        inp.registerEndOfStreamEventHandler(lambda i: done.set())
        inp.registerDataHandler(onData)
        for t in (1, 2):
            out.write(item(t), timestamp=(0, 0, t))
            out.update(timeout=T)
        out.signalEndOfStream(timeout=T)
        assert done.wait(T)
        assert seen == [0, 1, 2]
        inp.close()


def test_asyncio_handlers():
    async def main():
        got, messages = [], []
        eos = asyncio.Event()

        async def onData(data, meta):
            await asyncio.sleep(0)
            got.append((meta.tid, int(data["image"][0])))

        async with aio.OutputChannel() as out:
            inp = await aio.InputChannel([out.connectionInfo], onSlowness="wait", onData=onData,
                                         onInput=lambda items: messages.append(len(items))).start()
            inp.registerEndOfStreamEventHandler(lambda i: eos.set())
            await out.waitForInputs(1, timeout=T)
            for t in range(20):
                out.write(item(t), timestamp=(0, 0, t))
                if t % 2:
                    await out.update(timeout=T)
            await out.signalEndOfStream(timeout=T)
            await asyncio.wait_for(eos.wait(), T)
            await inp.close()
        assert got == [(t, t) for t in range(20)]
        assert messages == [2] * 10
    asyncio.run(main())


def test_threads_shared_input_selector():
    got = {"a": [], "b": []}
    eos = {"a": threading.Event(), "b": threading.Event()}
    calls = []

    def select(ids):
        calls.append(sorted(ids))
        return {0: "a", 1: "b", 2: "nobody"}[len(calls) % 3]

    with OutputChannel(noInputShared="wait") as out:
        out.registerSharedInputSelector(select)
        inputs = [InputChannel([out.connectionInfo], instanceId=k, dataDistribution="shared",
                               onData=lambda d, m, k=k: got[k].append(m.tid),
                               onEndOfStream=lambda i, k=k: eos[k].set()) for k in ("a", "b")]
        out.waitForInputs(2, timeout=T)
        for t in range(12):
            out.write(item(t), timestamp=(0, 0, t))
            out.update(timeout=T)
        out.signalEndOfStream(timeout=T)
        for k in ("a", "b"):
            assert eos[k].wait(T)
        assert calls == [["a", "b"]] * 12
        assert got == {"b": [0, 3, 6, 9], "a": [2, 5, 8, 11]}     # the third choice is unknown: dropped
        assert out.core.dropped == 4
        for i in inputs:
            i.close()


def test_threads_handlers_run_on_the_reader_one_message_at_a_time():
    # A message received over TCP is handled by the reader thread that got it, without a hop to
    # the pool; what another connection queued meanwhile goes to the pool (that reader returns to
    # its socket), and the handlers of one input still never overlap.
    threads, order = [], []
    active = []
    firstHandled = threading.Event()
    release = threading.Event()
    done = threading.Event()

    def onData(data, meta):
        active.append(meta.source)
        assert len(active) == 1, active
        threads.append(threading.current_thread().name)
        order.append(meta.source)
        if meta.source == "a:out":
            firstHandled.set()
            assert release.wait(T)
        active.pop()

    with OutputChannel(source="a:out") as a, OutputChannel(source="b:out") as b:
        inp = InputChannel([a.connectionInfo, b.connectionInfo], onSlowness="wait", onData=onData,
                           onEndOfStream=lambda i: done.set())
        a.waitForInputs(1, timeout=T)
        b.waitForInputs(1, timeout=T)
        a.write(item(0))
        a.update(timeout=T)
        assert firstHandled.wait(T)
        b.write(item(1))
        b.update(timeout=T)
        deadline = time.monotonic() + T
        while inp.core.queuedMessages != 1:     # b's message waits for the busy handler
            assert time.monotonic() < deadline
            time.sleep(0.005)
        release.set()
        a.signalEndOfStream(timeout=T)
        b.signalEndOfStream(timeout=T)
        assert done.wait(T)
        assert order == ["a:out", "b:out"]
        assert threads[0].startswith("pipe-in") and threads[1].startswith("pipe-handler"), threads
        inp.close()


def test_threads_handler_may_close_its_input():
    closed = threading.Event()

    def onData(data, meta):
        inp.close()         # on the input's own reader thread: must not try to join it
        closed.set()

    with OutputChannel() as out:
        inp = InputChannel([out.connectionInfo], onSlowness="wait", onData=onData)
        out.waitForInputs(1, timeout=T)
        out.write(item(0))
        out.update(timeout=T)
        assert closed.wait(T)
