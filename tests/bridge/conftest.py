"""Fixtures for the bridge server tests: sample trains and the optional reference package."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import zmq

try:
    import karabo_bridge  # noqa: F401  (only probing for it)
    HAVE_REFERENCE = True
except ImportError:
    HAVE_REFERENCE = False
NO_REFERENCE = "the reference package karabo-bridge is not installed (pip install karabo-bridge)"


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker of tests that need the reference karabo_bridge package."""
    config.addinivalue_line("markers", "interop: needs the reference karabo-bridge package")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip interop tests with a clear reason when karabo_bridge is absent."""
    if HAVE_REFERENCE:
        return
    skip = pytest.mark.skip(reason=NO_REFERENCE)
    here = Path(__file__).parent
    for item in items:
        if "interop" in item.keywords and here in item.path.parents:
            item.add_marker(skip)


def sample_train(tid: int = 10_000_000_000) -> tuple[dict, dict]:
    """A small train with every dtype the bridge carries, scalars, strings and lists."""
    rng = np.random.default_rng(tid % 1000)
    cam = "SA1_XTD2_CAM/CAM/1:output"
    det = "SPB_DET_AGIPD1M-1/DET/0CH0:xtdf"
    data = {
        det: {
            "image.data": rng.integers(0, 4000, size=(4, 16, 8), dtype=np.uint16),
            "image.cellId": np.arange(4, dtype=np.uint16),
            "image.trainId": np.full(4, tid, np.uint64),
            "image.mask": rng.integers(0, 2, size=(4, 3), dtype=np.uint32),
            "header.pulseCount": 4,
        },
        cam: {
            "data.image.pixels": rng.random((6, 5), dtype=np.float32),
            "data.image.dims": np.array([6, 5], np.uint64),
            "data.image.encoding": "GRAY",
            "data.image.bitsPerPixel": 32,
            "f64": rng.random(3),
            "i8": np.array([-3, 0, 7], np.int8),
            "i32be": np.array([1, -2, 300], ">i4"),
            "c64": np.array([1 + 2j, 3 - 1j], np.complex64),
            "flags": np.array([True, False, True]),
            "zero_d": np.array(2.5, np.float64),
            "u8": np.arange(10, dtype=np.uint8),
            "temperature": 21.5,
            "name": "camera one",
            "raw": b"\x00\x01\x02",
            "list": [1, 2, 3],
            "nothing": None,
            "on": True,
            "np_scalar": np.float32(2.5),
        },
    }
    metadata = {
        src: {"source": src, "timestamp": 1526464869.4109755, "timestamp.sec": "1526464869",
              "timestamp.frac": "410975500000000000", "timestamp.tid": tid}
        for src in data
    }
    return data, metadata


def free_port() -> int:
    """A loopback TCP port that is free right now."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PULL)
    port = sock.bind_to_random_port("tcp://127.0.0.1")
    ctx.destroy(linger=0)
    return port


def write_mock_run(path: Path, ntrains: int) -> Path:
    """A EuXFEL run (two AGIPD modules and an XGM) made with EXtra-data's mock writer."""
    mock = pytest.importorskip("extra_data.tests.mockdata", reason="serve-files needs extra-data")
    from extra_data.tests.mockdata.detectors import AGIPDModule
    from extra_data.tests.mockdata.xgm import XGM

    mock.write_file(str(path / "RAW-R0001-AGIPD00-S00000.h5"),
                    [AGIPDModule(f"SPB_DET_AGIPD1M-1/DET/{m}CH0", frames_per_train=2) for m in (0, 1)]
                    + [XGM("SA1_XTD2_XGM/DOOCS/MAIN")], ntrains=ntrains)
    return path


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny run of 5 trains."""
    return write_mock_run(tmp_path_factory.mktemp("run"), 5)


@pytest.fixture(scope="session")
def long_run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run of 100 trains: serve-files sends them for about 0.3 s, long enough for a PUB subscriber that joins
    only after the bind (reconnect interval 100 ms) to get some; 5 trains are gone in a few milliseconds."""
    return write_mock_run(tmp_path_factory.mktemp("long_run"), 100)
