"""The sans-I/O pipeline core: wire bytes, readiness, policies, distribution, end-of-stream, bad peers."""

import gc
import struct

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from pykarabo import Hash, Types, decodeBinary, encodeBinary, encodeBinaryBuffers
from pykarabo._core.pipeline import (CLOSE, END_OF_STREAM, SEND, BufferPool, InputCore, MetaData, OutputCore,
                                     encodeControl, helloHash, updateHash)
from tests.pipeline.golden import CPP_DATA_AND_EOS, CPP_HELLO_AND_UPDATE
from tests.strategies import hashes, texts


def joined(parts) -> bytes:
    return b"".join(bytes(memoryview(p).cast("B")) for p in parts)


def golden_item() -> Hash:
    d = Hash()
    d.setAs("trainId", 1000, Types.UINT64)
    d.setAs("seq", 0, Types.UINT32)
    d["src"] = "prod:output"
    d["image"] = np.array([[0xF7, 0xF8], [0xF9, 0xFA]], np.uint8)
    return d


class Harness:
    """An OutputCore with named inputs, recording what each connection receives."""

    def __init__(self, **kw):
        self.out = OutputCore("prod:output", **kw)
        self.sent: dict = {}
        self.closed: dict = {}

    def hello(self, conn, iid=None, dist="copy", policy="drop", qlen=2):
        if conn not in self.sent:
            self.out.connect(conn, f"peer{conn}")
            self.sent[conn] = []
        self.out.receive(conn, encodeControl(helloHash(iid or f"in{conn}", dist, policy, qlen)))
        self.pump()

    def ready(self, conn, iid=None):
        self.out.receive(conn, encodeControl(updateHash(iid or f"in{conn}")))
        self.pump()

    def chunk(self, tid, eos=False):
        if eos:
            self.out.signalEndOfStream()
        else:
            h = Hash()
            h["tid"] = tid
            self.out.write(h, timestamp=(1, 2, tid))
            self.out.update()
        self.pump()

    def pump(self):
        for kind, conn, payload in self.out.takeActions():
            if kind == SEND:
                self.sent[conn].append(decode_message(joined(payload)))
            else:
                self.closed[conn] = payload

    def tids(self, conn):
        return [m if m == "EOS" else [x[1].tid for x in m] for m in self.sent[conn]]


def decode_message(raw: bytes):
    ic = InputCore("x:y", queueCapacity=1000)
    ic.connect(0)
    ic.receive(0, raw)
    out = []
    while (item := ic.take()) is not None:
        out.append("EOS" if item is END_OF_STREAM else item)
    if out == ["EOS"]:
        return "EOS"
    return out


# ---- byte-level compatibility with the capture of real Karabo 3.1.2 ------------------------


def test_hello_and_update_bytes_match_cpp():
    ic = InputCore("cons0:input", "copy", "wait", 2)
    ic.connect("k")
    [(kind, key, parts)] = ic.takeActions()
    assert (kind, key) == (SEND, "k")
    assert joined(parts) + encodeControl(updateHash("cons0:input")) == CPP_HELLO_AND_UPDATE


def test_data_and_eos_bytes_match_cpp():
    out = OutputCore("prod:output")
    out.connect(1, "c")
    out.receive(1, CPP_HELLO_AND_UPDATE[:186])
    out.write(golden_item(), timestamp=(1700000000, 250000000000000000, 1000))
    out.update()
    [(kind, _, parts)] = out.takeActions()
    assert joined(parts) == CPP_DATA_AND_EOS[:482]
    out.signalEndOfStream()
    assert out.takeActions() == []          # not ready: EOS is queued, never dropped
    out.receive(1, CPP_HELLO_AND_UPDATE[186:])
    [(kind, _, parts)] = out.takeActions()
    assert joined(parts) == CPP_DATA_AND_EOS[482:]


def test_input_reads_cpp_capture_zero_copy():
    ic = InputCore("cons0:input")
    ic.connect(1)
    ic.takeActions()
    ic.receive(1, CPP_DATA_AND_EOS)
    data, meta = ic.take()
    assert meta == MetaData("prod:output", 1700000000, 250000000000000000, 1000)
    assert meta.trainId == 1000
    assert data["image"].tolist() == [[0xF7, 0xF8], [0xF9, 0xFA]]
    assert data["image"].flags.writeable            # a view into a pooled block, not a copy
    assert ic.take() is END_OF_STREAM
    assert ic.take() is None


def mdl_message(items, extra=None, attr_types=(Types.UINT64,) * 3, n_data=True):
    """A data message as the middlelayer writes it (no layout; attrs frac, sec, tid)."""
    bodies = [encodeBinary(d) for d, _ in items]
    header = Hash()
    if n_data:
        header.setAs("nData", len(items), Types.UINT32)
    header.setAs("byteSizes", np.array([len(b) for b in bodies], np.uint32), Types.VECTOR_UINT32)
    infos = []
    for _, (src, sec, frac, tid) in items:
        m = Hash()
        m["source"] = src
        m["timestamp"] = True
        for name, value, t in zip(("frac", "sec", "tid"), (frac, sec, tid), attr_types):
            m.setAttribute("timestamp", name, value, type=t)
        infos.append(m)
    header.setAs("sourceInfo", infos, Types.VECTOR_HASH)
    for k, v in (extra or {}).items():
        header[k] = v
    hb = encodeBinary(header)
    body = b"".join(bodies)
    return struct.pack("<I", len(hb)) + hb + struct.pack("<I", len(body)) + body


@pytest.mark.parametrize("variant", ["uint64", "int64", "int32", "no_nData", "extra_key"])
def test_input_accepts_header_variants(variant):
    types = {"int64": (Types.INT64,) * 3, "int32": (Types.INT32,) * 3}.get(variant, (Types.UINT64,) * 3)
    items = [(Hash("a", i), ("src" + str(i), 5, 6, 100 + i)) for i in range(3)]
    raw = mdl_message(items, extra={"unknownKey": 1} if variant == "extra_key" else None, attr_types=types,
                      n_data=variant != "no_nData")
    ic = InputCore("x:in")
    ic.connect(0)
    ic.receive(0, raw)
    got = [ic.take() for _ in range(3)]
    assert [(d["a"], m) for d, m in got] == [(i, MetaData("src" + str(i), 5, 6, 100 + i)) for i in range(3)]


def test_input_accepts_mdl_end_of_stream():
    header = Hash()
    header["endOfStream"] = True
    header.setAs("byteSizes", [], Types.VECTOR_UINT32)
    hb = encodeBinary(header)
    ic = InputCore("x:in")
    ic.connect(0)
    ic.receive(0, struct.pack("<I", len(hb)) + hb + b"\0\0\0\0")
    assert ic.take() is END_OF_STREAM


@settings(max_examples=60, deadline=None)
@given(st.lists(hashes(), min_size=1, max_size=4), st.data())
def test_any_split_of_the_stream_gives_the_same_items(datas, draw):
    out = OutputCore("p:o", bufferSetLayout=draw.draw(st.booleans()))
    out.connect(0)
    out.receive(0, encodeControl(helloHash("i:n")))
    for i, d in enumerate(datas):
        out.write(d, source=f"s{i}", timestamp=(i, i, i))
    out.update()
    out.signalEndOfStream()
    out.receive(0, encodeControl(updateHash("i:n")))
    stream = b"".join(joined(p) for _, _, p in out.takeActions())
    cuts = sorted(draw.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    ic = InputCore("i:n", queueCapacity=10)
    ic.connect(0)
    prev = 0
    for c in cuts + [len(stream)]:
        ic.receive(0, stream[prev:c])
        prev = c
    for i, d in enumerate(datas):
        got, meta = ic.take()
        assert got.fullyEqual(d)
        assert meta == MetaData(f"s{i}", i, i, i)
    assert ic.take() is END_OF_STREAM


# ---- the data header: written and read directly, checked against the generic codec -------------

U64 = st.integers(0, 2**64 - 1)


def split(raw: bytes) -> tuple[bytes, bytes]:
    """(header bytes, body bytes) of one two-part message."""
    n = struct.unpack_from("<I", raw)[0]
    return raw[4:4 + n], raw[8 + n:]


def reference_header(datas, metas, layout: bool) -> Hash:
    """The data header as a Hash, built the obvious way (C++ key order and types)."""
    header = Hash()
    infos = []
    for src, sec, frac, tid in metas:
        m = Hash()
        m["source"] = src
        m["timestamp"] = True
        for name, v in (("sec", sec), ("frac", frac), ("tid", tid)):
            m.setAttribute("timestamp", name, v, type=Types.UINT64)
        infos.append(m)
    header.setAs("sourceInfo", infos, Types.VECTOR_HASH)
    if layout:
        lays = []
        for d in datas:
            sizes = [len(memoryview(p).cast("B")) for p in encodeBinaryBuffers(d)]
            lay = Hash()
            lay.setAs("sizes", np.array(sizes, np.uint32), Types.VECTOR_UINT32)
            lay.setAs("types", np.array([i & 1 for i in range(len(sizes))], np.int32), Types.VECTOR_INT32)
            lays.append(lay)
        header.setAs("_bufferSetLayout_", lays, Types.VECTOR_HASH)
    header.setAs("nData", len(datas), Types.UINT32)
    header.setAs("byteSizes", np.array([len(encodeBinary(d)) for d in datas], np.uint32), Types.VECTOR_UINT32)
    return header


def read_all(raw: bytes) -> list:
    ic = InputCore("i:n", queueCapacity=100)
    ic.connect(0)
    ic.receive(0, raw)
    out = []
    while (x := ic.take()) is not None:
        out.append(x)
    return out


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(hashes(max_depth=2, max_leaves=8), texts(), U64, U64, U64), min_size=1, max_size=4),
       st.booleans())
def test_header_is_the_generic_encoding_and_both_readers_agree(items, layout):
    out = OutputCore("p:o", bufferSetLayout=layout)
    out.connect(0)
    out.receive(0, encodeControl(helloHash("i:n")))
    for d, src, sec, frac, tid in items:
        out.write(d, source=src, timestamp=(sec, frac, tid))
    out.update()
    [(_, _, parts)] = out.takeActions()
    raw = joined(parts)
    header, body = split(raw)
    datas = [d for d, *_ in items]
    expected = reference_header(datas, [m for _, *m in items], layout)
    assert header == encodeBinary(expected)
    # an unknown key sends the same header down the generic decoder: same items either way
    expected["zzUnknown"] = 1
    hb = encodeBinary(expected)
    generic = read_all(struct.pack("<I", len(hb)) + hb + struct.pack("<I", len(body)) + body)
    fast = read_all(raw)
    assert len(fast) == len(generic) == len(items)
    for (d1, m1), (d2, m2), (d, src, sec, frac, tid) in zip(fast, generic, items):
        assert d1.fullyEqual(d) and d2.fullyEqual(d)
        assert m1 == m2 == MetaData(src, sec, frac, tid)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(texts(), st.integers(-2**31, 2**31 - 1)), min_size=1, max_size=3),
       st.sampled_from([Types.INT32, Types.INT64, Types.UINT32, Types.UINT64]), st.booleans())
def test_mdl_headers_read_alike_on_both_paths(items, kind, unknown):
    lo, hi = {Types.UINT32: (0, 2**32 - 1), Types.UINT64: (0, 2**64 - 1)}.get(kind, (-2**31, 2**31 - 1))
    items = [(Hash("a", i), (src, min(max(v, lo), hi), 1, 2)) for i, (src, v) in enumerate(items)]
    raw = mdl_message(items, extra={"zzUnknown": 1} if unknown else None, attr_types=(kind,) * 3)
    got = read_all(raw)
    assert [(d["a"], m) for d, m in got] == [(i, MetaData(*m)) for i, (_, m) in enumerate(items)]


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_damaged_headers_close_the_connection_or_deliver(data):
    """Any corruption of a header is read (fast path or generic) or rejected, never raised."""
    out = OutputCore("p:o")
    out.connect(0)
    out.receive(0, encodeControl(helloHash("i:n")))
    out.write(Hash("a", 1), source="s\u00e9", timestamp=(1, 2, 3))
    out.update()
    header, body = split(joined(out.takeActions()[0][2]))
    header = bytearray(header)
    for _ in range(data.draw(st.integers(1, 4))):
        header[data.draw(st.integers(0, len(header) - 1))] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        header = header[:data.draw(st.integers(0, len(header)))]
    ic = InputCore("i:n")
    ic.connect(0)
    ic.takeActions()
    ic.receive(0, struct.pack("<I", len(header)) + bytes(header) + struct.pack("<I", len(body)) + body)
    actions = ic.takeActions()
    if any(kind == CLOSE for kind, _, _ in actions):
        assert ic.connections() == []
    else:
        while ic.take() is not None:
            pass


@pytest.mark.parametrize("timestamp", [(-1, 0, 0), (0, 2**64, 0), (0.5, 0, 0), (1, 2), "now"])
def test_write_rejects_bad_timestamps(timestamp):
    with pytest.raises(ValueError, match="timestamp must be"):
        OutputCore().write(Hash("a", 1), timestamp=timestamp)


# ---- readiness and copy policies -----------------------------------------------------------


def test_readiness_is_a_flag_not_a_counter():
    h = Harness()
    h.hello(1, policy="queueDrop", qlen=10)
    for _ in range(3):
        h.ready(1)
    for t in range(4):
        h.chunk(t)
    assert h.tids(1) == [[0]]            # hello + 3 updates = one readiness
    h.ready(1)
    assert h.tids(1) == [[0], [1]]


def test_copy_drop_skips_busy_input_but_queues_eos():
    h = Harness()
    h.hello(1, policy="drop")
    for t in range(5):
        h.chunk(t)
    h.chunk(None, eos=True)
    assert h.tids(1) == [[0]]
    assert h.out.dropped == 4
    h.ready(1)
    assert h.tids(1) == [[0], "EOS"]


def test_copy_queue_drop_keeps_the_oldest():
    h = Harness()
    h.hello(1, policy="queueDrop", qlen=2)
    for t in range(1000, 1010):
        h.chunk(t)
    h.chunk(None, eos=True)
    for _ in range(5):
        h.ready(1)
    assert h.tids(1) == [[1000], [1001], [1002], "EOS"]


def test_copy_wait_blocks_until_ready_and_unblocks_on_disconnect():
    h = Harness()
    h.hello(1, policy="wait")
    h.hello(2, policy="drop")
    h.chunk(0)
    assert not h.out.mustWait
    h.chunk(1)
    assert h.out.mustWait
    h.ready(1)
    assert not h.out.mustWait and h.tids(1) == [[0], [1]]
    h.chunk(2)
    assert h.out.mustWait
    h.out.disconnect(1)
    assert not h.out.mustWait
    h.chunk(3)
    assert not h.out.mustWait


def test_update_groups_items_and_is_a_no_op_without_writes():
    h = Harness()
    h.hello(1)
    for t in range(3):
        h.out.write(Hash("tid", t), timestamp=(0, 0, t))
    h.out.update()
    h.out.update()
    h.pump()
    assert h.tids(1) == [[0, 1, 2]]


# ---- shared distribution ---------------------------------------------------------------------


def test_shared_goes_to_first_ready_and_copy_gets_everything():
    h = Harness()
    h.hello(1, dist="shared")
    h.hello(2, dist="shared")
    h.hello(3, dist="copy", policy="queueDrop", qlen=100)
    h.chunk(0)                 # first ready: 1
    h.chunk(1)                 # then 2
    h.chunk(2)                 # nobody ready: dropped (noInputShared drop)
    h.ready(2)
    h.chunk(3)
    for _ in range(4):
        h.ready(3)
    assert h.tids(1) == [[0]] and h.tids(2) == [[1], [3]]
    assert h.tids(3) == [[0], [1], [2], [3]]


@pytest.mark.parametrize("policy", ["queueDrop", "wait"])
def test_shared_queue_is_common_and_eos_reaches_every_shared_input(policy):
    h = Harness(noInputShared=policy)
    h.hello(1, dist="shared")
    h.hello(2, dist="shared")
    for t in range(6):
        h.chunk(t)
    assert h.out.mustWait == (policy == "wait")
    h.chunk(None, eos=True)
    for _ in range(3):
        h.ready(2)
        h.ready(1)
    got1, got2 = h.tids(1), h.tids(2)
    items = sorted(t for m in got1 + got2 if m != "EOS" for t in m)
    assert items == list(range(6))
    assert got1[-1] == "EOS" and got2[-1] == "EOS"
    assert not h.out.mustWait


def test_shared_eos_without_queue():
    h = Harness()
    h.hello(1, dist="shared")
    h.hello(2, dist="shared")
    h.chunk(None, eos=True)
    assert h.tids(1) == ["EOS"] and h.tids(2) == ["EOS"]


# ---- registration, takeover and bad peers --------------------------------------------------


def test_takeover_closes_the_old_connection():
    h = Harness()
    h.hello(1, iid="same:id")
    h.hello(2, iid="same:id")
    assert 1 in h.closed and 2 not in h.closed
    assert h.out.inputs() == [("same:id", "copy", "drop")]
    h.chunk(0)
    assert h.tids(2) == [[0]] and h.tids(1) == []


def test_update_with_unknown_id_is_ignored():
    h = Harness()
    h.hello(1, policy="queueDrop")
    h.chunk(0)
    h.chunk(1)
    h.ready(1, iid="someone:else")
    assert h.tids(1) == [[0]]


@pytest.mark.parametrize("raw", [
    b"\x05\x00\x00\x00garbage",                                     # undecodable Hash
    struct.pack("<I", 1 << 30),                                    # oversized length
    encodeControl(Hash("reason", "hello", "instanceId", 5)),        # wrong type
    encodeControl(Hash("reason", "hello", "instanceId", "a:b", "onSlowness", "fast")),
    encodeControl(Hash("reason", "hello", "instanceId", "a:b", "maxQueueLength", "2")),
])
def test_bad_peer_is_closed_and_others_served(raw, caplog):
    h = Harness()
    h.hello(1)
    h.out.connect(2, "evil:666")
    h.sent[2] = []
    h.out.receive(2, raw)
    h.pump()
    assert 2 in h.closed
    assert any("evil:666" in r.getMessage() for r in caplog.records)
    h.chunk(0)
    assert h.tids(1) == [[0]]


def test_legacy_policies_are_mapped():
    h = Harness()
    h.hello(1, policy="drop")
    h.out.receive(1, encodeControl(Hash("reason", "hello", "instanceId", "in1", "onSlowness", "queue")))
    assert h.out.inputs() == [("in1", "copy", "queueDrop")]


def test_hello_never_sends_legacy_policies_and_uses_uint32():
    with pytest.raises(ValueError):
        helloHash("a:b", onSlowness="queue")
    h = decodeBinary(encodeControl(helloHash("a:b", "shared", "queueDrop", 7))[4:])
    assert list(h.keys()) == ["reason", "instanceId", "memoryLocation", "dataDistribution", "onSlowness",
                              "maxQueueLength"]
    assert h.getType("maxQueueLength") == Types.UINT32 and h["memoryLocation"] == "remote"


@pytest.mark.parametrize("header,body", [
    (Hash("byteSizes", [10]), b"x" * 5),       # sizes disagree with body (list is VECTOR_INT32 here)
    (Hash("byteSizes", "ten"), b"x" * 10),
])
def test_input_rejects_inconsistent_messages(header, body):
    hb = encodeBinary(header)
    ic = InputCore("x:in")
    ic.connect(0)
    ic.takeActions()
    ic.receive(0, struct.pack("<I", len(hb)) + hb + struct.pack("<I", len(body)) + body)
    assert [a[0] for a in ic.takeActions()] == [CLOSE]
    assert ic.connections() == []


def test_input_rejects_oversized_lengths():
    ic = InputCore("x:in", maxHeaderSize=1000, maxBodySize=100)
    ic.connect(0)
    ic.receive(0, struct.pack("<I", 5000))
    assert [a[0] for a in ic.takeActions()] == [SEND, CLOSE]


# ---- input: credit, n-to-1, end-of-stream, buffer pool ------------------------------------


def message(tid, eos=False):
    out = OutputCore("p:o")
    out.connect(0)
    out.receive(0, encodeControl(helloHash("a:b")))
    if eos:
        out.signalEndOfStream()
    else:
        out.write(Hash("tid", tid), timestamp=(0, 0, tid))
        out.update()
    return joined(out.takeActions()[0][2])


def test_input_owes_updates_while_its_queue_is_full():
    ic = InputCore("a:b", queueCapacity=2)
    ic.connect(0)
    ic.takeActions()
    ic.receive(0, message(1))
    assert len(ic.takeActions()) == 1          # room: update at once
    ic.receive(0, message(2))
    assert ic.takeActions() == []              # full: owed
    ic.take()
    assert [a[0] for a in ic.takeActions()] == [SEND]


def test_n_to_1_end_of_stream_once_after_all_outputs():
    ic = InputCore("a:b", queueCapacity=10)
    for k in (1, 2):
        ic.connect(k)
    ic.receive(1, message(1) + message(0, eos=True))
    ic.receive(2, message(2))
    assert [ic.take()[1].tid, ic.take()[1].tid, ic.take()] == [1, 2, None]
    ic.receive(2, message(0, eos=True))
    assert ic.take() is END_OF_STREAM and ic.take() is None


def test_disconnect_of_the_last_missing_output_completes_eos():
    ic = InputCore("a:b")
    for k in (1, 2):
        ic.connect(k)
    ic.receive(1, message(0, eos=True))
    assert ic.take() is None
    ic.disconnect(2)
    assert ic.take() is END_OF_STREAM


def test_received_blocks_return_to_the_pool_when_released():
    pool = BufferPool()
    ic = InputCore("a:b", pool=pool, queueCapacity=10)
    ic.connect(0)
    out = OutputCore("p:o")
    out.connect(0)
    out.receive(0, encodeControl(helloHash("a:b")))
    for t in range(3):
        out.write(Hash("image", np.full((64, 64), t, np.uint16)))
        out.update()
        ic.receive(0, joined(out.takeActions()[0][2]))
        data, _ = ic.take()
        assert data["image"][5, 5] == t
        del data
        gc.collect()
        out.receive(0, encodeControl(updateHash("a:b")))
    assert pool.allocations == 1 and pool.reuses == 2


# ---- random operation sequences against the output's invariants ----------------------------

ops = st.lists(st.one_of(
    st.tuples(st.just("chunk"), st.integers(0, 0)),
    st.tuples(st.just("ready"), st.integers(1, 4)),
    st.tuples(st.just("drop"), st.integers(1, 4)),
), max_size=40)


@settings(max_examples=150, deadline=None)
@given(ops, st.sampled_from(["drop", "wait", "queueDrop"]),
       st.lists(st.tuples(st.sampled_from(["copy", "shared"]), st.sampled_from(["drop", "wait", "queueDrop"]),
                          st.integers(0, 3)), min_size=1, max_size=4))
def test_output_invariants_under_random_sequences(sequence, shared_policy, inputs):
    h = Harness(noInputShared=shared_policy)
    credit = {}
    for conn, (dist, policy, qlen) in enumerate(inputs, start=1):
        h.hello(conn, dist=dist, policy=policy, qlen=qlen)
        credit[conn] = 1
    connected = set(credit)
    tid = 0
    for op, arg in sequence:
        before = {c: len(h.sent[c]) for c in connected}
        if op == "chunk":
            h.chunk(tid)
            tid += 1
        elif arg in connected:
            if op == "ready":
                h.ready(arg)
                credit[arg] = 1
            else:
                h.out.disconnect(arg)
                connected.discard(arg)
        for c in connected:
            n = len(h.sent[c]) - before[c]
            assert n <= credit[c]                 # at most one message per readiness
            credit[c] -= n
        for c in connected:
            dist, policy, qlen = inputs[c - 1]
            q = h.out.queueLengths()[f"in{c}"]
            if dist == "copy" and policy == "queueDrop":
                assert q <= qlen
            if dist == "copy" and policy == "drop":
                assert q == 0
    h.chunk(None, eos=True)
    for _ in range(tid + 3):
        for c in connected:
            h.ready(c)
    assert not h.out.mustWait
    shared_seen = []
    for c in connected:
        dist, policy, _ = inputs[c - 1]
        got = h.tids(c)
        assert got and got[-1] == "EOS" and got.count("EOS") == 1      # EOS reaches everyone
        flat = [t for m in got[:-1] for t in m]
        assert flat == sorted(flat) and len(set(flat)) == len(flat)
        if dist == "shared":
            shared_seen += flat
        elif policy == "wait":
            assert flat == list(range(tid))                             # wait: nothing lost
    assert len(set(shared_seen)) == len(shared_seen)                   # shared: disjoint
