"""Both transports on 127.0.0.1 with free ports: delivery, policies, n-to-1, bad peers, takeover."""

import asyncio
import socket
import struct
import threading
import time
import zlib

import numpy as np
import pytest

from pykarabo import Hash
from pykarabo.errors import KaraboTimeoutError
from pykarabo.pipeline import END_OF_STREAM, InputChannel, OutputChannel, aio

T = 10.0     # bound of every wait in these tests


def item(tid: int) -> Hash:
    h = Hash()
    h["image"] = ((np.arange(64 * 32, dtype=np.uint16) + tid) % 251).reshape(64, 32)
    h["trainId"] = tid
    return h


def crc(a: np.ndarray) -> int:
    return zlib.crc32(np.ascontiguousarray(a).tobytes())


def drain(inp: InputChannel, out: list, done: threading.Event | None = None) -> threading.Thread:
    """Consume ``inp`` in a thread until end-of-stream, recording (source, tid, crc)."""
    def run():
        while True:
            x = inp.get(timeout=T)
            if x is END_OF_STREAM:
                break
            data, meta = x
            out.append((meta.source, meta.tid, crc(data["image"])))
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


# ---- threads --------------------------------------------------------------------------------


@pytest.mark.parametrize("policy", ["wait", "drop", "queueDrop"])
def test_threads_copy(policy):
    with OutputChannel() as out:
        inputs = [InputChannel([out.connectionInfo], onSlowness=policy) for _ in range(2)]
        out.waitForInputs(2, timeout=T)
        got = [[], []]
        threads = [drain(i, g) for i, g in zip(inputs, got)]
        for t in range(30):
            out.write(item(t), timestamp=(0, 0, t))
            out.update(timeout=T)
        out.signalEndOfStream(timeout=T)
        for th in threads:
            th.join(T)
            assert not th.is_alive()
        for g in got:
            if policy == "wait":
                assert [x[1] for x in g] == list(range(30))
            assert all(c == crc(item(t)["image"]) for _, t, c in g)
            assert [x[1] for x in g] == sorted(x[1] for x in g) and g
        for i in inputs:
            i.close()


@pytest.mark.parametrize("noInputShared", ["wait", "queueDrop"])
def test_threads_shared_two_consumers(noInputShared):
    with OutputChannel(noInputShared=noInputShared) as out:
        inputs = [InputChannel([out.connectionInfo], dataDistribution="shared") for _ in range(2)]
        out.waitForInputs(2, timeout=T)
        got = [[], []]
        threads = [drain(i, g) for i, g in zip(inputs, got)]
        for t in range(40):
            out.write(item(t), timestamp=(0, 0, t))
            out.update(timeout=T)
        out.signalEndOfStream(timeout=T)
        for th in threads:
            th.join(T)
            assert not th.is_alive()        # both got their end-of-stream
        tids = sorted(x[1] for g in got for x in g)
        assert tids == list(range(40))
        for i in inputs:
            i.close()


def test_threads_n_to_1_with_sources():
    with OutputChannel(source="a:out") as a, OutputChannel(source="b:out") as b:
        inp = InputChannel([a.connectionInfo, f"127.0.0.1:{b.port}"], onSlowness="wait")
        a.waitForInputs(1, timeout=T)
        b.waitForInputs(1, timeout=T)
        got = []
        th = drain(inp, got)
        for t in range(5):
            a.write(item(t), timestamp=(0, 0, t))
            a.write(item(t), source="a:other", timestamp=(0, 0, t))
            a.update(timeout=T)
            b.write(item(t), timestamp=(0, 0, t))
            b.update(timeout=T)
        a.signalEndOfStream(timeout=T)
        time.sleep(0.2)
        assert th.is_alive()                # one EOS only after both outputs ended
        b.signalEndOfStream(timeout=T)
        th.join(T)
        assert not th.is_alive()
        assert sorted(got) == sorted((s, t, crc(item(t)["image"])) for t in range(5)
                                     for s in ("a:out", "a:other", "b:out"))
        inp.close()


def test_threads_wait_unblocks_when_input_disconnects():
    with OutputChannel() as out:
        inp = InputChannel([out.connectionInfo], onSlowness="wait", queueCapacity=1)
        out.waitForInputs(1, timeout=T)
        out.write(item(0))           # the input never consumes: from the second chunk on, wait
        out.update(timeout=T)
        out.write(item(1))
        with pytest.raises(KaraboTimeoutError):
            out.update(timeout=0.3)
        threading.Timer(0.2, inp.close).start()
        out.write(item(3))
        t0 = time.monotonic()
        out.update(timeout=T)
        assert time.monotonic() - t0 < 5


def test_threads_bad_peers_do_not_disturb_others(caplog):
    with OutputChannel() as out:
        inp = InputChannel([out.connectionInfo], onSlowness="wait")
        out.waitForInputs(1, timeout=T)
        evil = socket.create_connection(("127.0.0.1", out.port), timeout=T)
        evil.sendall(struct.pack("<I", 0xFFFFFFF0) + b"junk")
        assert evil.recv(10) == b""                 # closed by the output
        evil.close()
        got = []
        th = drain(inp, got)
        for t in range(5):
            out.write(item(t), timestamp=(0, 0, t))
            out.update(timeout=T)
        out.signalEndOfStream(timeout=T)
        th.join(T)
        assert [g[1] for g in got] == list(range(5))
        assert any("exceeds the limit" in r.getMessage() for r in caplog.records)
        inp.close()


def test_threads_input_closes_a_garbage_output_and_reconnects():
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(T)
    port = server.getsockname()[1]
    inp = InputChannel([f"127.0.0.1:{port}"], reconnectDelay=(0.05, 0.1))
    try:
        first, _ = server.accept()
        first.settimeout(T)
        first.recv(1000)                             # hello
        first.sendall(struct.pack("<I", 8) + b"notahash" + struct.pack("<I", 0))
        assert first.recv(1000) == b""                # the input hung up on us
        second, _ = server.accept()                   # and came back with back-off
        second.settimeout(T)
        assert b"hello" in second.recv(1000)
        first.close()
        second.close()
    finally:
        inp.close()
        server.close()


def test_threads_peer_that_stops_reading_is_dropped():
    with OutputChannel(sendTimeout=0.5) as out:
        stuck = socket.socket()
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.connect(("127.0.0.1", out.port))
        from pykarabo._core.pipeline import encodeControl, helloHash
        stuck.sendall(encodeControl(helloHash("stuck:in")))
        out.waitForInputs(1, timeout=T)
        big = Hash("data", np.zeros(32 << 20, np.uint8))
        out.write(big, copyAllData=False)
        out.update(timeout=T)
        deadline = time.monotonic() + T
        while out.inputs() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert out.inputs() == []
        stuck.close()


def test_threads_takeover_by_same_instance_id():
    with OutputChannel() as out:
        a = InputChannel([out.connectionInfo], instanceId="same:in", reconnectDelay=(5, 5))
        out.waitForInputs(1, timeout=T)
        b = InputChannel([out.connectionInfo], instanceId="same:in")
        deadline = time.monotonic() + T
        while not a.core.connections() == [] and time.monotonic() < deadline:
            time.sleep(0.02)
        assert a.core.connections() == []            # the old connection was closed
        assert len(out.inputs()) == 1
        out.write(item(1), timestamp=(0, 0, 1))
        out.update(timeout=T)
        assert b.get(timeout=T)[1].tid == 1
        a.close()
        b.close()


# ---- asyncio --------------------------------------------------------------------------------


async def adrain(inp, out: list):
    async for data, meta in inp:
        out.append((meta.source, meta.tid, crc(data["image"])))


@pytest.mark.parametrize("policy", ["wait", "queueDrop"])
def test_asyncio_copy_and_shared(policy):
    async def main():
        async with aio.OutputChannel(noInputShared=policy) as out:
            copy = await aio.InputChannel([out.connectionInfo], onSlowness=policy).start()
            shared = [await aio.InputChannel([out.connectionInfo], dataDistribution="shared").start()
                      for _ in range(2)]
            await out.waitForInputs(3, timeout=T)
            got = [[], [], []]
            tasks = [asyncio.create_task(adrain(i, g)) for i, g in zip([copy] + shared, got)]
            for t in range(30):
                out.write(item(t), timestamp=(0, 0, t))
                await out.update(timeout=T)
                await asyncio.sleep(0)
            await out.signalEndOfStream(timeout=T)
            await asyncio.wait_for(asyncio.gather(*tasks), T)
            if policy == "wait":
                assert [x[1] for x in got[0]] == list(range(30))
            assert all(c == crc(item(t)["image"]) for g in got for _, t, c in g)
            assert sorted(x[1] for x in got[1] + got[2]) == list(range(30))
            for i in [copy] + shared:
                await i.close()
    asyncio.run(asyncio.wait_for(main(), 30))


def test_asyncio_and_threads_interoperate_with_bad_peer():
    async def main():
        async with aio.OutputChannel() as out:
            loop = asyncio.get_running_loop()
            r, w = await asyncio.open_connection("127.0.0.1", out.port)
            w.write(b"\x05\x00\x00\x00garbage")
            assert await asyncio.wait_for(r.read(), T) == b""
            inp = InputChannel([out.connectionInfo], onSlowness="wait")      # a threaded input
            await out.waitForInputs(1, timeout=T)
            got = []
            th = drain(inp, got)
            for t in range(5):
                out.write(item(t), timestamp=(0, 0, t))
                await out.update(timeout=T)
            await out.signalEndOfStream(timeout=T)
            await loop.run_in_executor(None, th.join, T)
            assert [g[1] for g in got] == list(range(5))
            inp.close()
    asyncio.run(asyncio.wait_for(main(), 30))


def test_asyncio_input_n_to_1_from_threaded_outputs():
    with OutputChannel(source="a:o") as a, OutputChannel(source="b:o") as b:
        async def main():
            inp = await aio.InputChannel([a.connectionInfo, b.connectionInfo], onSlowness="wait").start()
            await inp.waitConnected(timeout=T)
            loop = asyncio.get_running_loop()

            def produce(o):
                o.waitForInputs(1, timeout=T)
                for t in range(5):
                    o.write(item(t), timestamp=(0, 0, t))
                    o.update(timeout=T)
                o.signalEndOfStream(timeout=T)
            producers = [loop.run_in_executor(None, produce, o) for o in (a, b)]
            got = []
            await asyncio.wait_for(adrain(inp, got), T)
            await asyncio.gather(*producers)
            assert sorted((s, t) for s, t, _ in got) == sorted((s, t) for s in ("a:o", "b:o") for t in range(5))
            await inp.close()
        asyncio.run(asyncio.wait_for(main(), 30))


def test_asyncio_wait_times_out_and_unblocks_when_input_disconnects():
    async def main():
        async with aio.OutputChannel() as out:
            inp = await aio.InputChannel([out.connectionInfo], onSlowness="wait", queueCapacity=1).start()
            await out.waitForInputs(1, timeout=T)
            out.write(item(0))           # the input never consumes: from the second chunk on, wait
            await out.update(timeout=T)
            out.write(item(1))
            with pytest.raises(KaraboTimeoutError, match="was not ready within 0.3 s"):
                await out.update(timeout=0.3)
            asyncio.get_running_loop().call_later(0.2, lambda: asyncio.ensure_future(inp.close()))
            out.write(item(3))
            t0 = time.monotonic()
            await out.update(timeout=T)
            assert time.monotonic() - t0 < 5
            idle = await aio.InputChannel([out.connectionInfo]).start()
            with pytest.raises(KaraboTimeoutError, match="no data within 0.1 s"):
                await idle.get(timeout=0.1)
            await idle.close()
    asyncio.run(asyncio.wait_for(main(), 30))


def test_asyncio_peer_that_stops_reading_is_dropped(caplog):
    async def main():
        async with aio.OutputChannel(sendTimeout=0.5) as out:
            stuck = socket.socket()
            stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            stuck.setblocking(False)
            await asyncio.get_running_loop().sock_connect(stuck, ("127.0.0.1", out.port))
            from pykarabo._core.pipeline import encodeControl, helloHash
            stuck.send(encodeControl(helloHash("stuck:in")))
            await out.waitForInputs(1, timeout=T)
            out.write(Hash("data", np.zeros(32 << 20, np.uint8)), copyAllData=False)
            await out.update(timeout=T)
            deadline = time.monotonic() + T
            while out.inputs() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert out.inputs() == []
            stuck.close()
    asyncio.run(asyncio.wait_for(main(), 30))
    assert any("stopped reading" in r.getMessage() for r in caplog.records)


def test_asyncio_input_closes_a_garbage_output_reconnects_and_takes_over():
    async def main():
        got = []

        async def fake_output(reader, writer):
            got.append(await reader.read(1000))                  # hello
            if len(got) == 1:
                writer.write(struct.pack("<I", 8) + b"notahash" + struct.pack("<I", 0))
                got.append(await reader.read(1000))              # b"": the input hung up on us
            writer.close()
        server = await asyncio.start_server(fake_output, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        inp = await aio.InputChannel([f"127.0.0.1:{port}"], instanceId="same:in", reconnectDelay=(0.05, 0.1)).start()
        deadline = time.monotonic() + T
        while len(got) < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert b"hello" in got[0] and got[1] == b"" and b"hello" in got[2]    # came back with back-off
        await inp.close()
        server.close()
        async with aio.OutputChannel() as out:                   # takeover by a second input
            a = await aio.InputChannel([out.connectionInfo], instanceId="same:in", reconnectDelay=(5, 5)).start()
            await out.waitForInputs(1, timeout=T)
            b = await aio.InputChannel([out.connectionInfo], instanceId="same:in").start()
            while a.core.connections() and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            assert a.core.connections() == [] and len(out.inputs()) == 1
            out.write(item(1), timestamp=(0, 0, 1))
            await out.update(timeout=T)
            assert (await b.get(timeout=T))[1].tid == 1
            await a.close()
            await b.close()
    asyncio.run(asyncio.wait_for(main(), 30))


def test_asyncio_waits_share_one_timer_and_each_times_out_on_its_own_deadline():
    from pykarabo.net.pipeline_asyncio import _Changed

    async def main():
        changed, state = _Changed(), {"ok": False}
        loop = asyncio.get_running_loop()

        async def wait(timeout, predicate=lambda: False):
            t0 = loop.time()
            try:
                await changed.waitFor(predicate, timeout, lambda: "late")
                return "done", loop.time() - t0
            except KaraboTimeoutError:
                return "timeout", loop.time() - t0
        tasks = [asyncio.create_task(wait(t)) for t in (0.4, 0.1, 0.25)]
        tasks.append(asyncio.create_task(wait(5, lambda: state["ok"])))
        await asyncio.sleep(0.05)
        changed.notify()                    # a change that satisfies nobody
        await asyncio.sleep(0.3)
        state["ok"] = True
        changed.notify()
        results = await asyncio.gather(*tasks)
        assert [r[0] for r in results] == ["timeout", "timeout", "timeout", "done"]
        for (_, took), want in zip(results, (0.4, 0.1, 0.25)):
            assert want - 0.01 <= took < want + 2
    asyncio.run(asyncio.wait_for(main(), 30))
