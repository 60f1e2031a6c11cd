"""Tests of pykarabo_bridge.serialize / deserialize without any network."""

import time

import msgpack
import numpy as np
import pytest
import zmq
from bridge_strategies import same, trains
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pykarabo_bridge import DecodeError, deserialize, serialize

SRC = "DEV/X/1:out"
META = {
    SRC: {
        "source": SRC,
        "timestamp": 1.5,
        "timestamp.sec": "1",
        "timestamp.frac": "500000000000000000",
        "timestamp.tid": 10000000000,
    }
}
fast = settings(
    max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def s(text: str) -> bytes:
    """msgpack fixstr encoding of a short string."""
    return bytes([0xA0 + len(text)]) + text.encode()


def example() -> dict:
    return {SRC: {"v": 7, "a": np.arange(3, dtype=np.uint16)}}


def expected_v2(data: dict) -> dict:
    """What protocol 2.2 gives back: numpy scalars become Python values, arrays come last."""
    result = {}
    for src, props in sorted(data.items()):
        values = {k: v for k, v in props.items() if not isinstance(v, np.ndarray)}
        result[src] = {k: v.item() if isinstance(v, np.generic) else v for k, v in values.items()}
        result[src].update((k, v) for k, v in props.items() if isinstance(v, np.ndarray))
    return result


# --- byte layout (spec §2.5, §3.1) -------------------------------------------


def test_spec_example_v22_bytes() -> None:
    frames = [bytes(f) for f in serialize(example(), META)]
    meta = (
        b"\x85"
        + s("source")
        + s(SRC)
        + s("timestamp")
        + b"\xcb\x3f\xf8"
        + bytes(6)
        + s("timestamp.sec")
        + s("1")
        + s("timestamp.frac")
        + b"\xb2500000000000000000"
        + s("timestamp.tid")
        + b"\xcf\x00\x00\x00\x02\x54\x0b\xe4\x00"
    )
    assert frames == [
        b"\x83" + s("source") + s(SRC) + s("content") + s("msgpack") + s("metadata") + meta,
        b"\x81" + s("v") + b"\x07",
        b"\x85"
        + s("source")
        + s(SRC)
        + s("content")
        + s("array")
        + s("path")
        + s("a")
        + s("dtype")
        + s("uint16")
        + s("shape")
        + b"\x91\x03",
        b"\x00\x00\x01\x00\x02\x00",
    ]
    assert [len(f) for f in frames] == [157, 4, 62, 6]


def test_spec_example_v10_bytes() -> None:
    (frame,) = serialize(example(), META, protocol_version="1.0")
    assert len(frame) == 187
    assert frame.startswith(
        b"\x81"
        + s(SRC)
        + b"\x83"
        + s("v")
        + b"\x07"
        + s("a")
        + b"\x85\xc4\x02nd\xc3"
        + b"\xc4\x04type"
        + s("<u2")
        + b"\xc4\x04kind\xc4\x00\xc4\x05shape\x91\x03"
        + b"\xc4\x04data\xc4\x06\x00\x00\x01\x00\x02\x00"
        + s("metadata")
        + b"\x85"
    )


def test_sources_sorted_and_metadata_defaults_to_data() -> None:
    data = {"b": {"metadata": {"source": "b"}}, "a": {}}
    headers = [msgpack.unpackb(f) for f in serialize(data)[::2]]
    assert [(h["source"], h["metadata"]) for h in headers] == [("b", {"source": "b"}), ("a", {})][
        ::-1
    ]
    # the 'metadata' entry stays in the data part, as EXtra-data relies on
    assert deserialize(serialize(data))[0]["b"] == {"metadata": {"source": "b"}}


def test_unknown_protocol_version() -> None:
    with pytest.raises(ValueError, match="2.1"):
        serialize({}, protocol_version="2.1")


@pytest.mark.parametrize("protocol", ["1.0", "2.2"])
@pytest.mark.parametrize("array", [np.array([None]), np.zeros(2, "i4,f8")])
def test_unsendable_arrays_are_refused(protocol: str, array: np.ndarray) -> None:
    with pytest.raises(TypeError, match="cannot be sent"):
        serialize({SRC: {"x": array}}, protocol_version=protocol)


def test_numpy_scalars_become_python_values() -> None:
    data = {
        SRC: {"f": np.float32(2.5), "b": np.bool_(True), "i": np.uint64(2**63), "l": [np.int8(1)]}
    }
    result = deserialize(serialize(data))[0][SRC]
    assert result == {"f": 2.5, "b": True, "i": 2**63, "l": [1]}
    assert type(result["b"]) is bool


def test_dummy_timestamps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "time", lambda: 1526464869.4109755)
    data = {"a": {}, "b": {}}
    given_meta = {"a": {"timestamp": 3.0}, "b": {"source": "b"}}
    for protocol in ("1.0", "2.2"):
        meta = deserialize(serialize(data, given_meta, protocol, dummy_timestamps=True))[1]
        assert meta["a"] == {"timestamp": 3.0}
        assert meta["b"] == {
            "source": "b",
            "timestamp": 1526464869.4109755,
            "timestamp.sec": "1526464869",
            "timestamp.frac": "410975500000000000",
        }
    assert given_meta["b"] == {"source": "b"}  # the caller's dict is not modified


# --- zero copy -----------------------------------------------------------------


def test_array_frames_are_views_of_the_array() -> None:
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    frame = serialize({SRC: {"a": array}})[3]
    assert isinstance(frame, memoryview)
    assert np.shares_memory(np.frombuffer(frame, np.uint8), array)


def test_non_contiguous_array_is_sent_in_c_order() -> None:
    array = np.arange(12, dtype=np.int16).reshape(3, 4).T
    frames = serialize({SRC: {"a": array}})
    assert bytes(frames[3]) == array.copy(order="C").tobytes()
    assert msgpack.unpackb(frames[2])["shape"] == [4, 3]


def test_decoded_arrays_view_the_received_frames() -> None:
    frames = [bytes(f) for f in serialize(example())]
    received = [zmq.Frame(f) for f in frames]
    array = deserialize(received)[0][SRC]["a"]
    assert array.flags.writeable and not array.flags.owndata
    array[0] = 42  # writes land in the frame: no copy was made
    assert bytes(received[3].buffer[:2]) == b"\x2a\x00"
    raw = bytearray(frames[3])
    assert deserialize(frames[:3] + [raw])[0][SRC]["a"].base is not None


# --- round trips ---------------------------------------------------------------


@fast
@given(trains("2.2"))
def test_round_trip_v22(train: tuple[dict, dict]) -> None:
    data, metadata = train
    frames = serialize(data, metadata)
    assert all(isinstance(f, (bytes, memoryview)) for f in frames)
    got_data, got_meta = deserialize([zmq.Frame(f) for f in frames])
    assert same(got_data, expected_v2(data))
    assert got_meta == dict(sorted(metadata.items()))


@fast
@given(trains("1.0"))
def test_round_trip_v10(train: tuple[dict, dict]) -> None:
    data, metadata = train
    got_data, got_meta = deserialize(serialize(data, metadata, protocol_version="1.0"))
    # np.float64 subclasses float, so msgpack writes it as a plain float
    plain = {
        src: {k: float(v) if isinstance(v, np.float64) else v for k, v in props.items()}
        for src, props in data.items()
    }
    assert same(
        got_data, {src: {**props, "metadata": metadata[src]} for src, props in plain.items()}
    )
    assert got_meta == metadata


# --- lenient decoding ------------------------------------------------------------


def pack(obj: object) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


def array_header(**changes: object) -> bytes:
    header = {"source": SRC, "content": "array", "path": "a", "dtype": "uint16", "shape": [3]}
    return pack({**header, **changes})


ARRAY = np.arange(3, dtype=np.uint16).tobytes()


def test_lenient_inputs() -> None:
    missing_meta = [pack({"source": SRC, "content": "msgpack"}), pack({"v": 1})]
    assert deserialize(missing_meta) == ({SRC: {"v": 1}}, {SRC: {}})
    assert deserialize(missing_meta + [b"stray"]) == ({SRC: {"v": 1}}, {SRC: {}})
    data, meta = deserialize([array_header(), ARRAY] + missing_meta)
    assert list(data[SRC]) == ["a", "v"] and meta == {SRC: {}}
    image = [array_header(content="ImageData", params={"x": 1}), ARRAY]
    assert deserialize(missing_meta + image)[0][SRC]["a"].tolist() == [0, 1, 2]
    assert deserialize([pack({"source": SRC, "content": "msgpack"}), b"\x80"])[0] == {SRC: {}}
    assert deserialize([pack({SRC: {1: "int key"}})])[0] == {SRC: {1: "int key"}}


def test_zero_dim_and_empty_arrays() -> None:
    data = {SRC: {"z": np.array(3.5), "e": np.zeros((0, 4), ">i4")}}
    result = deserialize(serialize(data))[0][SRC]
    assert result["z"].shape == () and result["z"] == 3.5
    assert result["e"].shape == (0, 4) and result["e"].dtype == np.dtype(">i4")


# --- malformed frames ------------------------------------------------------------

MSGPACK_PAIR = [pack({"source": SRC, "content": "msgpack", "metadata": {}}), pack({})]


@pytest.mark.parametrize(
    "frames, match",
    [
        ([b"\xc1"], r"frame 0: protocol 1.0 body could not be decoded"),
        ([b"Error: bad request b'x'"], r"frame 0: server answered with an error"),
        ([pack([1, 2])], r"frame 0: protocol 1.0 body is not a map of source maps"),
        ([pack({SRC: 5})], r"frame 0: protocol 1.0 body is not a map"),
        (
            [pack({SRC: {"a": {b"nd": True, b"type": "<u2", b"shape": [4], b"data": ARRAY}}})],
            r"frame 0: .*6 bytes, shape \(4,\) of uint16 needs 8",
        ),
        ([pack({SRC: {"a": {b"nd": True, b"type": "<u2"}}})], r"frame 0: .*b'data'"),
        ([b"\xc1", b"\x80"], r"frame 0: header could not be decoded"),
        ([pack(3), b"\x80"], r"frame 0: header is a msgpack int, expected a map"),
        ([pack({"content": "msgpack"}), b"\x80"], r"frame 0: header has no 'source' key"),
        ([pack({"source": SRC}), b"\x80"], r"frame 0: header has no 'content' key"),
        ([pack({"source": 1, "content": "msgpack"}), b"\x80"], r"frame 0: source name 1"),
        (
            [pack({"source": SRC, "content": "msgpack", "metadata": 1}), b"\x80"],
            r"frame 0: header 'metadata' is not a map",
        ),
        (MSGPACK_PAIR[:1] + [b"\x93\x01"], r"frame 1: payload could not be decoded"),
        (MSGPACK_PAIR[:1] + [pack("x")], r"frame 1: payload is a msgpack str"),
        (
            MSGPACK_PAIR + [pack({"source": SRC, "content": "pickle"}), b""],
            r"frame 2: unknown content type 'pickle'",
        ),
        (
            MSGPACK_PAIR + [array_header(), ARRAY[:-1]],
            r"frame 3: array 'a' has 5 bytes, shape \[3\] of uint16 needs 6",
        ),
        (MSGPACK_PAIR + [array_header(shape=[2, 2]), ARRAY], r"frame 3: .*needs 8"),
        (MSGPACK_PAIR + [array_header(dtype="uint99"), ARRAY], r"frame 2: unusable dtype 'uint99'"),
        (MSGPACK_PAIR + [array_header(dtype="O"), ARRAY], r"frame 2: unusable dtype 'O'"),
        (MSGPACK_PAIR + [array_header(shape=[-3]), ARRAY], r"frame 2: shape \[-3\] is not"),
        (MSGPACK_PAIR + [array_header(path=[1]), ARRAY], r"frame 2: array path \[1\] is not a string"),
        (MSGPACK_PAIR + [array_header(shape="3"), ARRAY], r"frame 2: shape '3' is not"),
        (
            MSGPACK_PAIR + [pack({"source": SRC, "content": "array"}), ARRAY],
            r"frame 2: array header lacks 'path', 'dtype', 'shape'",
        ),
    ],
)
def test_malformed_messages(frames: list[bytes], match: str) -> None:
    with pytest.raises(DecodeError, match=match) as info:
        deserialize(frames)
    assert isinstance(info.value, ValueError)
    assert info.value.frame == int(match.split()[1].rstrip(":"))


def test_a_repeated_array_header_is_decoded_once_but_every_payload_is_checked() -> None:
    from pykarabo_bridge import serializer

    header = array_header(path="repeated")
    first = deserialize(MSGPACK_PAIR + [header, ARRAY])[0][SRC]["repeated"]
    assert header in serializer._array_headers
    again = deserialize([zmq.Frame(f) for f in MSGPACK_PAIR + [header, ARRAY]])[0][SRC]["repeated"]
    assert again.tolist() == first.tolist() == [0, 1, 2]
    message = r"frame 3: array 'repeated' has 4 bytes, shape \[3\] of uint16 needs 6"
    with pytest.raises(DecodeError, match=message):
        deserialize(MSGPACK_PAIR + [header, ARRAY[:4]])


def test_the_kept_array_headers_stay_bounded() -> None:
    from pykarabo_bridge import serializer

    for i in range(serializer._ARRAY_HEADERS_KEPT + 100):
        deserialize(MSGPACK_PAIR + [array_header(path=f"p{i}"), ARRAY])
        assert len(serializer._array_headers) <= serializer._ARRAY_HEADERS_KEPT


@st.composite
def mutated_messages(draw: st.DrawFn) -> list[bytes]:
    """A valid message (either protocol) with frames truncated, bytes flipped, frames dropped or swapped."""
    protocol = draw(st.sampled_from(["1.0", "2.2"]))
    data = {SRC: {"v": 7, "s": "text", "a": np.arange(6, dtype=np.uint16).reshape(2, 3),
                  "f": np.ones(2, np.float32)}}
    frames = [bytes(f) for f in serialize(data, META, protocol)]
    for _ in range(draw(st.integers(1, 4))):
        index = draw(st.integers(0, len(frames) - 1))
        frame = bytearray(frames[index])
        action = draw(st.sampled_from(["truncate", "flip", "drop", "swap", "extend", "retype"]))
        if action == "truncate":
            frames[index] = bytes(frame[: draw(st.integers(0, max(0, len(frame) - 1)))])
        elif action == "flip" and frame:
            pos = draw(st.integers(0, len(frame) - 1))
            frame[pos] = draw(st.integers(0, 255))
            frames[index] = bytes(frame)
        elif action == "drop" and len(frames) > 1:
            del frames[index]
        elif action == "swap":
            other = draw(st.integers(0, len(frames) - 1))
            frames[index], frames[other] = frames[other], frames[index]
        elif action == "extend":
            frames[index] = bytes(frame) + draw(st.binary(min_size=1, max_size=8))
        elif action == "retype" and protocol == "2.2" and index % 2 == 0:
            # a well-formed header whose fields have the wrong types or values
            try:
                header = msgpack.unpackb(frames[index], raw=False)
            except ValueError:          # already mutated into something else
                continue
            if not isinstance(header, dict):
                continue
            key = draw(st.sampled_from(["source", "content", "path", "dtype", "shape", "metadata"]))
            header[key] = draw(st.one_of(st.none(), st.integers(-3, 2**64 - 1), st.text(max_size=5),
                                         st.lists(st.integers(-2, 10), max_size=3),
                                         st.dictionaries(st.text(max_size=2), st.integers(), max_size=2)))
            frames[index] = msgpack.packb(header, use_bin_type=True)
    return frames


@settings(max_examples=300, deadline=None, database=None)
@given(mutated_messages())
def test_mutated_messages_decode_or_raise_decode_error(frames: list[bytes]) -> None:
    """Whatever arrives, the client either decodes it or raises a DecodeError naming a frame of the message."""
    try:
        data, meta = deserialize(frames)
    except DecodeError as exc:
        assert 0 <= exc.frame < len(frames) and str(exc).startswith(f"frame {exc.frame}: ")
        return
    assert isinstance(data, dict) and isinstance(meta, dict)
