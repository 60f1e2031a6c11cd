"""``pykarabo bridge`` glimpse, monitor and serve-files against loopback servers."""

from __future__ import annotations

import struct
import threading
import zlib
from pathlib import Path

import numpy as np
import pytest
from pykarabo_bridge import Client

from pykarabo.bridge import BridgeServer
from pykarabo.bridge.png import preview_image, to_grey8, write_png
from pykarabo.cli import main
from tests.bridge.conftest import free_port, sample_train


def read_png(path: Path) -> np.ndarray:
    """Decode the greyscale PNGs write_png makes (filter 0 rows only)."""
    raw = path.read_bytes()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(raw):
        (length,) = struct.unpack(">I", raw[pos:pos + 4])
        kind, body = raw[pos + 4:pos + 8], raw[pos + 8:pos + 8 + length]
        assert struct.unpack(">I", raw[pos + 8 + length:pos + 12 + length])[0] == zlib.crc32(kind + body)
        chunks[kind] = body
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, colour) == (8, 0) and b"IEND" in chunks
    rows = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), np.uint8).reshape(height, width + 1)
    assert not rows[:, 0].any()
    return rows[:, 1:]


def test_png_writer(tmp_path: Path) -> None:
    """The PNG writer round-trips pixels; previews pick the two longest axes."""
    image = np.arange(35, dtype=np.uint8).reshape(5, 7)
    write_png(tmp_path / "x.png", image)
    np.testing.assert_array_equal(read_png(tmp_path / "x.png"), image)
    assert preview_image(np.zeros((16, 128, 512, 64))).shape == (128, 512)
    assert preview_image(np.zeros(5)) is None
    assert to_grey8(np.array([[0.0, np.nan], [1.0, 2.0]])).dtype == np.uint8


def test_glimpse_prints_structure_and_saves_image(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """glimpse shows sources, train ID and keys, and writes a PNG preview."""
    png = tmp_path / "preview.png"
    with BridgeServer(0, "REP") as server:
        server.put(*sample_train())
        assert main(["bridge", "glimpse", server.endpoint, "--timeout", "5", "--save-image", str(png)]) == 0
    out = capsys.readouterr().out
    assert "Train ID: 10000000000" in out
    assert "SPB_DET_AGIPD1M-1/DET/0CH0:xtdf @ 10000000000" in out
    assert "image.data: array uint16 [4, 16, 8]" in out
    assert read_png(png).shape == (6, 5)   # the camera (sorted first): data.image.pixels
    assert main(["bridge", "glimpse", "tcp://127.0.0.1:1", "--timeout", "0.2"]) == 1


def test_monitor_counts_lost_trains(capsys: pytest.CaptureFixture) -> None:
    """monitor prints a line per train and counts gaps in the train IDs."""
    with BridgeServer(0, "PUSH", maxlen=10) as server:
        for tid in (1, 2, 5):
            server.put(*sample_train(tid))
        assert main(["bridge", "monitor", server.endpoint, "-z", "PUSH", "--ntrains", "3", "--timeout", "5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("train 1 ") and "lost 2" in lines[2] and "latency" in lines[2]


@pytest.mark.parametrize("append", [False, True])
def test_serve_files(run_dir: Path, append: bool) -> None:
    """Every train of the run arrives once, equal to what EXtra-data reads (modules merged on request)."""
    extra_data = pytest.importorskip("extra_data")
    port = free_port()
    args = ["bridge", "serve-files", str(run_dir), str(port), "-z", "PUSH", "--source", "SPB*"]
    if append:
        args.append("--append-detector-modules")
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(main(args)))
    thread.start()
    with Client(f"tcp://127.0.0.1:{port}", sock="PULL", timeout=10) as client:
        trains = [client.next() for _ in range(5)]
    thread.join(20)
    assert codes == [0]
    expected = list(extra_data.RunDirectory(str(run_dir)).select("SPB*").trains())
    for (data, meta), (tid, ref) in zip(trains, expected, strict=True):
        if append:
            assert list(data) == ["SPB_DET_AGIPD1M-1/DET/APPEND"]
            merged = data["SPB_DET_AGIPD1M-1/DET/APPEND"]
            assert merged["image.data"].shape == (2, 2, 2, 512, 128)
            np.testing.assert_array_equal(merged["image.data"][:, :, 1],
                                          ref["SPB_DET_AGIPD1M-1/DET/1CH0:xtdf"]["image.data"])
            assert meta["SPB_DET_AGIPD1M-1/DET/APPEND"]["timestamp.tid"] == tid
            continue
        assert sorted(data) == sorted(ref)
        for src, props in ref.items():
            assert meta[src]["timestamp.tid"] == tid
            for key, value in props.items():
                if isinstance(value, np.ndarray):
                    np.testing.assert_array_equal(data[src][key], value)
