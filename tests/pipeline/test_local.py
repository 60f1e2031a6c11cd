"""Inputs and outputs of one process (threads transport): chunks handed over in memory, as
Karabo's "local" memory location, with the protocol's readiness, policies and end-of-stream."""

import threading

import numpy as np
import pytest

from pykarabo import Hash
from pykarabo._core.pipeline import (DELIVER, END_OF_STREAM, SEND, InputCore, OutputCore, encodeControl,
                                     helloHash)
from pykarabo.pipeline import InputChannel, OutputChannel

T = 10.0


def localInfo(out: OutputChannel) -> Hash:
    info = out.connectionInfo
    info["memoryLocation"] = "local"
    return info


def collect(inp: InputChannel) -> tuple[list, threading.Thread]:
    got: list = []
    th = threading.Thread(target=lambda: got.extend(inp), daemon=True)
    th.start()
    return got, th


def test_core_delivers_items_to_an_in_process_input_and_bytes_to_others():
    out = OutputCore("dev:out")
    local = InputCore("dev:local", onSlowness="wait")
    remote = InputCore("dev:remote", onSlowness="wait")
    out.connect("L")
    out.setLocal("L")
    out.connect("R")
    local.connect("l", local=True)
    remote.connect("r")
    for conn, core in (("L", local), ("R", remote)):
        (_, _, parts), = core.takeActions()
        assert b"local" in parts[0] if conn == "L" else b"remote" in parts[0]
        out.receive(conn, parts[0])
    image = np.arange(6, dtype=np.uint16)
    out.write(Hash("image", image), timestamp=(1, 2, 3), copyAllData=False)
    out.update()
    actions = {conn: (kind, payload) for kind, conn, payload in out.takeActions()}
    kind, items = actions["L"]
    assert kind == DELIVER
    (data, meta), = items
    assert np.shares_memory(data["image"], image) and meta.timestamp == (1, 2, 3)
    assert actions["R"][0] == SEND
    local.deliver("l", items)
    assert local.take()[0]["image"].tolist() == image.tolist()
    out.signalEndOfStream()     # "L" is not ready: the end-of-stream waits for its update
    assert [k for k, c, _ in out.takeActions() if c == "L"] == []
    (_, _, parts), = local.takeActions()
    out.receive("L", parts[0])
    (kind, conn, payload), = [a for a in out.takeActions() if a[1] == "L"]
    assert kind == DELIVER and payload is END_OF_STREAM


def test_core_ignores_local_from_a_connection_not_vouched_for():
    out = OutputCore("dev:out")
    out.connect("c")
    out.receive("c", encodeControl(helloHash("x:in", memoryLocation="local")))
    out.write(Hash("a", 1), timestamp=(0, 0, 0))
    out.update()
    (kind, _, _), = out.takeActions()
    assert kind == SEND


def test_hello_rejects_an_unknown_memory_location():
    with pytest.raises(ValueError, match="memoryLocation"):
        helloHash("x:in", memoryLocation="shm")


@pytest.mark.parametrize("copyAllData", [False, True])
def test_threads_local_copy_semantics(copyAllData):
    image = np.arange(1000, dtype=np.uint16)
    with OutputChannel() as out, InputChannel([localInfo(out)], onSlowness="wait") as inp:
        out.waitForInputs(1, timeout=T)
        got, th = collect(inp)
        for tid in range(5):
            data = Hash("image", image, "trainId", tid)
            out.write(data, timestamp=(0, 0, tid), copyAllData=copyAllData)
            data["trainId"] = -1        # the caller reuses its Hash: the item keeps what was written
            out.update(timeout=T)
        out.signalEndOfStream(timeout=T)
        th.join(T)
    assert [(d["trainId"], m.tid) for d, m in got] == [(t, t) for t in range(5)]
    # copyAllData=False promises unchanged arrays: they are shared, like Karabo's local chunks
    assert all(np.shares_memory(d["image"], image) != copyAllData for d, _ in got)
    assert all(d["image"].tolist() == image.tolist() for d, _ in got)


def test_threads_local_and_remote_inputs_of_one_output(monkeypatch):
    with OutputChannel() as out:
        local = InputChannel([localInfo(out)], onSlowness="wait")
        monkeypatch.setenv("KARABO_NO_PIPELINE_SHORTCUT", "1")     # Karabo's switch: data over TCP
        remote = InputChannel([localInfo(out)], onSlowness="wait")
        out.waitForInputs(2, timeout=T)
        image = np.arange(100, dtype=np.uint8)
        results = [collect(local), collect(remote)]
        for tid in range(20):
            out.write(Hash("image", image), timestamp=(0, 0, tid), copyAllData=False)
            out.update(timeout=T)
        out.signalEndOfStream(timeout=T)
        for (got, th), inp in zip(results, (local, remote)):
            th.join(T)
            inp.close()
    (gotLocal, _), (gotRemote, _) = results
    assert [m.tid for _, m in gotLocal] == [m.tid for _, m in gotRemote] == list(range(20))
    assert all(np.shares_memory(d["image"], image) for d, _ in gotLocal)
    assert not any(np.shares_memory(d["image"], image) for d, _ in gotRemote)


def test_threads_local_shared_inputs_split_the_items():
    with OutputChannel(noInputShared="wait") as out:
        inputs = [InputChannel([localInfo(out)], dataDistribution="shared") for _ in range(2)]
        out.waitForInputs(2, timeout=T)
        results = [collect(i) for i in inputs]
        for tid in range(40):
            out.write(Hash("trainId", tid), timestamp=(0, 0, tid))
            out.update(timeout=T)
        out.signalEndOfStream(timeout=T)
        for (got, th), inp in zip(results, inputs):
            th.join(T)
            inp.close()
    tids = sorted(d["trainId"] for got, _ in results for d, _ in got)
    assert tids == list(range(40))


def test_threads_local_info_for_an_output_elsewhere_falls_back_to_tcp():
    from pykarabo.net.pipeline_threads import output
    with OutputChannel() as out:
        del output._localOutputs[out.port]      # as if it lived in another process
        with InputChannel([localInfo(out)], onSlowness="wait") as inp:
            out.waitForInputs(1, timeout=T)
            got, th = collect(inp)
            image = np.arange(10, dtype=np.uint8)
            out.write(Hash("image", image), timestamp=(0, 0, 7), copyAllData=False)
            out.update(timeout=T)
            out.signalEndOfStream(timeout=T)
            th.join(T)
    (data, meta), = got
    assert meta.tid == 7 and data["image"].tolist() == image.tolist()
    assert not np.shares_memory(data["image"], image)
