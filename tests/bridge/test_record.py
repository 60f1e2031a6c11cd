"""Record → replay: the replayed messages are byte-identical to the recorded ones."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import zmq
from pykarabo_bridge import deserialize, serialize

from pykarabo.bridge import BridgeServer
from pykarabo.bridge.record import FILE_NAME, MAGIC, Recorder, connect, read_messages, receive_raw, record
from pykarabo.cli import main
from tests.bridge.conftest import free_port, sample_train


@pytest.mark.parametrize("protocol", ["2.2", "1.0"])
def test_record_then_replay_identical(tmp_path: Path, protocol: str) -> None:
    """Messages recorded from a server are replayed with the same bytes, in order."""
    sent = [serialize(*sample_train(10_000_000_000 + i), protocol_version=protocol) for i in range(4)]
    with BridgeServer(0, "REP") as server:
        for frames in sent:
            server.put_frames(frames)
        assert record(server.endpoint, tmp_path, "REP", ntrains=4, timeout=5) == 4
    recorded = [frames for _, frames in read_messages(tmp_path)]
    assert [[bytes(f) for f in m] for m in recorded] == [[bytes(f) for f in m] for m in sent]

    ctx = zmq.Context()
    with BridgeServer(0, "PUSH", context=ctx) as server:
        pull = connect(server.endpoint, "PUSH", ctx)
        for frames in recorded:
            server.put_frames(frames, block=True)
        replayed = [receive_raw(pull, 5) for _ in range(4)]
        pull.close()
    ctx.term()
    assert [[f.bytes for f in m] for m in replayed] == [[bytes(f) for f in m] for m in sent]
    assert deserialize(replayed[3])[1]["SA1_XTD2_CAM/CAM/1:output"]["timestamp.tid"] == 10_000_000_003


def test_file_format(tmp_path: Path) -> None:
    """The documented layout: magic, then (time, frame count, (length, bytes)...) per message."""
    with Recorder(tmp_path) as rec:
        rec.write([b"ab", memoryview(b"")], received=1.5)
    raw = (tmp_path / FILE_NAME).read_bytes()
    assert raw == MAGIC + bytes.fromhex("000000000000f83f") + b"\x02\0\0\0" \
        + b"\x02" + b"\0" * 7 + b"ab" + b"\0" * 8
    assert [(t, [bytes(f) for f in fr]) for t, fr in read_messages(tmp_path)] == [(1.5, [b"ab", b""])]
    (tmp_path / FILE_NAME).write_bytes(raw[:-3] + b"\x09")
    with pytest.raises(ValueError):
        list(read_messages(tmp_path))


def test_record_replay_cli(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """``pykarabo bridge record`` and ``replay`` round-trip through the command line."""
    frames = serialize(*sample_train())
    with BridgeServer(0, "PUSH") as server:
        server.put_frames(frames)
        assert main(["bridge", "record", server.endpoint, str(tmp_path), "-z", "PUSH", "--ntrains", "1",
                     "--timeout", "5"]) == 0
    ctx = zmq.Context()
    port = free_port()
    pull = connect(f"tcp://127.0.0.1:{port}", "PUSH", ctx)
    got: list = []
    receiver = threading.Thread(target=lambda: got.append(receive_raw(pull, 10)))
    receiver.start()
    assert main(["bridge", "replay", str(tmp_path), str(port), "-z", "PUSH"]) == 0
    receiver.join(10)
    pull.close()
    ctx.term()
    assert [f.bytes for f in got[0]] == [bytes(f) for f in frames]
    assert "replayed 1 messages" in capsys.readouterr().out
