"""Interop with real Karabo 3 C++ channels (karabind in Karabo's Python 3.12 venv), both directions."""

import json
import subprocess
import threading
import zlib
from pathlib import Path

import pytest

from pykarabo import Hash
from pykarabo.cli.pipe import payload
from pykarabo.pipeline import END_OF_STREAM, InputChannel, OutputChannel
from tests.karabo_env import require_karabo_python

pytestmark = pytest.mark.karabo
PEER = Path(__file__).with_name("karabo_pipe_peer.py")
T = 20.0


@pytest.fixture(scope="module")
def kpython():
    python = require_karabo_python()
    probe = subprocess.run([python, "-c", "import karabind"], capture_output=True, timeout=60)
    if probe.returncode != 0:
        pytest.skip(f"{python} lacks karabind (karabo-cpp)")
    return python


def peer(kpython, *args):
    return subprocess.Popen([kpython, str(PEER), *map(str, args)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)


def read_json(proc) -> dict:
    line = proc.stdout.readline()
    assert line, "the Karabo peer exited early"
    return json.loads(line)


def send_trains(out: OutputChannel, trainIds: range, shape: tuple) -> None:
    """Write one item (an ``image`` from ``payload``) per train id, then end-of-stream."""
    for t in trainIds:
        h = Hash()
        h["image"] = payload(t, shape, "uint16")
        out.write(h, timestamp=(1700000000, 0, t))
        out.update(timeout=T)
    out.signalEndOfStream(timeout=T)


def read_until_eos(proc) -> list:
    """The peer's records before its end-of-stream record, which must report success."""
    records = []
    while "eos" not in (rec := read_json(proc)):
        records.append(rec)
    assert rec["eos"] is True
    return records


def with_timeout(proc):
    timer = threading.Timer(T, proc.kill)
    timer.start()
    return timer


@pytest.mark.parametrize("policy", ["wait", "drop", "queueDrop"])
def test_cpp_output_to_our_input(kpython, policy):
    proc = peer(kpython, "output", 0, 20, "64,32", "uint16", "drop", "ours")
    timer = with_timeout(proc)
    try:
        port = read_json(proc)["listening"]
        inp = InputChannel([f"127.0.0.1:{port}"], instanceId="ours", onSlowness=policy)
        inp.waitConnected(timeout=T)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        got = []
        while (x := inp.get(timeout=T)) is not END_OF_STREAM:
            data, meta = x
            got.append(meta.trainId)
            assert meta.source == "kprod:output"
            expected = payload(meta.trainId, (64, 32), "uint16")
            assert zlib.crc32(data["image"].tobytes()) == zlib.crc32(expected.tobytes())
        inp.close()
        assert got and got == sorted(got)
        if policy == "wait":
            assert got == list(range(1000, 1020))
    finally:
        timer.cancel()
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("policy", ["wait", "drop", "queueDrop"])
def test_our_output_to_cpp_input(kpython, policy):
    with OutputChannel(source="ours:output") as out:
        proc = peer(kpython, "input", "127.0.0.1", out.port, policy, "copy")
        timer = with_timeout(proc)
        try:
            out.waitForInputs(1, timeout=T)
            assert out.inputs()[0][1:] == ("copy", policy)
            send_trains(out, range(1000, 1020), (64, 32))
            lines = read_until_eos(proc)
            items = [x for x in lines if "trainId" in x]
            assert items and all(x["source"] == "ours:output" for x in items)
            assert all(x["crc32"] == zlib.crc32(payload(x["trainId"], (64, 32), "uint16").tobytes()) for x in items)
            if policy == "wait":
                assert [x["trainId"] for x in items] == list(range(1000, 1020))
        finally:
            timer.cancel()
            proc.kill()
            proc.wait()


def test_our_shared_output_to_two_cpp_inputs(kpython):
    with OutputChannel(source="ours:output", noInputShared="wait") as out:
        procs = [peer(kpython, "input", "127.0.0.1", out.port, "drop", "shared", f"kcons{i}") for i in range(2)]
        timers = [with_timeout(p) for p in procs]
        try:
            out.waitForInputs(2, timeout=T)
            send_trains(out, range(1000, 1030), (16, 8))
            tids = []
            for p in procs:                          # every shared input gets its end-of-stream
                tids += [rec["trainId"] for rec in read_until_eos(p) if "trainId" in rec]
            assert sorted(tids) == list(range(1000, 1030))
        finally:
            for t, p in zip(timers, procs):
                t.cancel()
                p.kill()
                p.wait()


def consume(inp: InputChannel, got: list) -> threading.Thread:
    """Collect (source, trainId) of ``inp`` in a thread until end-of-stream, checking payloads."""
    def run():
        while (x := inp.get(timeout=T)) is not END_OF_STREAM:
            data, meta = x
            assert data["image"].tobytes() == payload(meta.trainId, (16, 8), "uint16").tobytes()
            got.append((meta.source, meta.trainId))
        got.append("eos")
    th = threading.Thread(target=run, daemon=True)
    th.start()
    return th


def test_cpp_shared_output_to_our_shared_inputs(kpython):
    proc = peer(kpython, "output", 0, 30, "16,8", "uint16", "wait", "ours0,ours1")
    timer = with_timeout(proc)
    try:
        port = read_json(proc)["listening"]
        inputs = [InputChannel([f"127.0.0.1:{port}"], instanceId=f"ours{i}", dataDistribution="shared",
                               onSlowness="wait") for i in range(2)]
        for inp in inputs:
            inp.waitConnected(timeout=T)
        got = [[], []]
        threads = [consume(inp, g) for inp, g in zip(inputs, got)]
        proc.stdin.write("go\n")
        proc.stdin.flush()
        for th in threads:
            th.join(T)
        for inp in inputs:
            inp.close()
        assert all(g and g[-1] == "eos" for g in got)      # every shared input gets its end-of-stream
        tids = sorted(t for g in got for _, t in g[:-1])
        assert tids == list(range(1000, 1030))               # each train exactly once
    finally:
        timer.cancel()
        proc.kill()
        proc.wait()


def test_n_to_1_our_and_cpp_output_into_our_input(kpython):
    proc = peer(kpython, "output", 0, 20, "16,8", "uint16", "drop", "ours")
    timer = with_timeout(proc)
    try:
        port = read_json(proc)["listening"]
        with OutputChannel(source="ours:output") as out:
            inp = InputChannel([out.connectionInfo, f"127.0.0.1:{port}"], instanceId="ours", onSlowness="wait")
            inp.waitConnected(timeout=T)
            out.waitForInputs(1, timeout=T)
            got = []
            th = consume(inp, got)
            proc.stdin.write("go\n")
            proc.stdin.flush()
            send_trains(out, range(2000, 2020), (16, 8))
            th.join(T)
            inp.close()
        assert got[-1] == "eos" and got.count("eos") == 1    # one end-of-stream, after both ended
        ours = [t for s, t in got[:-1] if s == "ours:output"]
        theirs = [t for s, t in got[:-1] if s == "kprod:output"]
        assert ours == list(range(2000, 2020))
        assert theirs == list(range(1000, 1020))
    finally:
        timer.cancel()
        proc.kill()
        proc.wait()


def test_n_to_1_our_and_cpp_output_into_cpp_input(kpython):
    with OutputChannel(source="ours:output") as out:
        proc = peer(kpython, "n_to_1", "127.0.0.1", out.port, 20)
        timer = with_timeout(proc)
        try:
            assert read_json(proc) == {"connect": ""}      # connectSync's error message: none
            assert read_json(proc) == {"connect": ""}
            out.waitForInputs(1, timeout=T)
            proc.stdin.write("go\n")
            proc.stdin.flush()
            send_trains(out, range(2000, 2020), (16, 8))
            items = read_until_eos(proc)
            assert all(x["crc32"] == zlib.crc32(payload(x["trainId"], (16, 8), "uint16").tobytes()) for x in items)
            assert [x["trainId"] for x in items if x["source"] == "ours:output"] == list(range(2000, 2020))
            assert [x["trainId"] for x in items if x["source"] == "kprod:output"] == list(range(1000, 1020))
        finally:
            timer.cancel()
            proc.kill()
            proc.wait()
