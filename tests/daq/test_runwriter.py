"""RunWriter: runs pass extra-data-validate and read back through extra_data exactly as written."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from pykarabo import Hash, Types
from pykarabo.daq import DaqError, RunWriter, recover_run

from .conftest import validate

extra_data = pytest.importorskip("extra_data", reason="runs are read back with extra-data (test extra)")

XGM = "SA1_XTD2_XGM/DOOCS/MAIN"
MOTOR = "SPB_IRU_MOTORS/MOTOR/X"
AGIPD = "SPB_DET_AGIPD1M-1/DET/0CH0:xtdf"
CAM = "SPB_IRU_CAM/CAM/SIDEMIC:daqOutput"
T0 = 1_700_000_000_000_000_000
FIRST = 1_000_000_000


def _schema():
    from pykarabo.access import AccessMode
    from pykarabo.schema import LeafElement, NodeElement, Schema
    s = Schema("DoocsXGM")
    NodeElement("beamPosition").commit(s)
    LeafElement("beamPosition.ixPos", Types.FLOAT, accessMode=AccessMode.READONLY, defaultValue=0.0,
                description="horizontal beam position").commit(s)
    s.setUnit("beamPosition.ixPos", "m")
    s.setMetricPrefix("beamPosition.ixPos", "m")
    LeafElement("state", Types.STRING, accessMode=AccessMode.READONLY, defaultValue="ON").commit(s)
    return s


def _ts(sec: int) -> dict:
    return {"sec": sec, "frac": 0}


def _frames(tid: int, n: int) -> Hash:
    return Hash("image.data", (np.arange(n * 2 * 8 * 4, dtype=np.uint16).reshape(n, 2, 8, 4) + tid % 1000),
                "image.cellId", np.arange(n, dtype=np.uint16), "image.pulseId", np.arange(n, dtype=np.uint64),
                "header.pulseCount", np.uint64(n))


def _write_reference_run(directory: Path, **kw) -> RunWriter:
    """Twelve trains: XGM (control, with schema), a motor appearing late, AGIPD with 0..3 frames
    per train (missing in some trains), a camera with 0 or 1 item per train; three sequences."""
    w = RunWriter(directory, 7, proposal=700000, max_trains=5,
                  aggregators={"AGIPD00": [AGIPD]}, compress_keys=("image.mask",), **kw)
    cfg = Hash("beamPosition.ixPos", 0.5, "state", "ON", "gains", np.array([1, 2, 3], np.int32),
               "enabled", True, "names", ["a", "b"])
    cfg.setAttribute("beamPosition.ixPos", "sec", 1_699_999_999)
    w.add_control_source(XGM, cfg, _schema())
    w.add_instrument_source(AGIPD, pulse_groups=("image",))
    for i in range(12):
        tid = FIRST + i
        src = {XGM: Hash()}
        if i % 4 == 1:
            src[XGM].set("beamPosition.ixPos", float(i))
            src[XGM].setAttribute("beamPosition.ixPos", "sec", 1_700_000_000 + i)
        if i == 6:
            src[MOTOR] = Hash("position", 1.25, "moving", False)
        if i % 5 != 3:
            src[AGIPD] = _frames(tid, i % 4)
            if i == 2:
                src[AGIPD].set("image.mask", np.ones((2, 2, 8, 4), np.uint32))
        src[CAM] = [Hash("data.image.pixels", np.full((3, 4), i, np.uint16))] if i % 2 else []
        assert w.write_train(tid, T0 + i * 100_000_000, src)
    w.close()
    return w


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("raw")
    w = _write_reference_run(d)
    return d / "r0007", w


def test_layout_and_validation(reference_run):
    run_dir, w = reference_run
    names = sorted(p.name for p in run_dir.iterdir())
    assert names == [f"RAW-R0007-{a}-S{s:05d}.h5" for a in ("AGIPD00", "DA01") for s in range(3)]
    validate(run_dir)
    with h5py.File(run_dir / "RAW-R0007-DA01-S00001.h5") as f:
        assert f["METADATA/dataFormatVersion"][()].tolist() == [b"1.3"]
        assert f["METADATA/sequenceNumber"][0] == 1 and f["METADATA/runNumber"][0] == 7
        assert f["METADATA/proposalNumber"][0] == 700000
        assert f["INDEX/trainId"].dtype == np.uint64 and f["INDEX/flag"].dtype == np.int32
        assert list(f["INDEX/origin"][()]) == [-1] * 5
        assert list(f["INDEX/SA1_XTD2_XGM/DOOCS/MAIN/count"][()]) == [1] * 5
        g = f["CONTROL/SA1_XTD2_XGM/DOOCS/MAIN/beamPosition/ixPos"]
        assert g.attrs["unitSymbol"] == "m" and g.attrs["metricPrefixSymbol"] == "m"
        assert g.attrs["description"] == "horizontal beam position"
        assert f["CONTROL/SA1_XTD2_XGM/DOOCS/MAIN/enabled/value"].dtype == np.uint8
        ids = f["METADATA/dataSources/dataSourceId"].asstr()[()].tolist()
        assert ids == sorted(ids) and f"CONTROL/{XGM}" in ids and f"INSTRUMENT/{CAM}/data" in ids
    with h5py.File(run_dir / "RAW-R0007-AGIPD00-S00000.h5") as f:
        data = f[f"INSTRUMENT/{AGIPD}/image/data"]
        assert data.chunks == (1, 2, 8, 4) and data.compression is None
        mask = f[f"INSTRUMENT/{AGIPD}/image/mask"]
        assert mask.chunks == (1, 2, 8, 4) and mask.compression == "gzip"
        assert f"INSTRUMENT/{AGIPD}/image" in {f"INSTRUMENT/{d}" for d in
                                              f["METADATA/dataSources/deviceId"].asstr()[()]}
    assert w.stats.lateSources == 1 and w.stats.trains == 12 and w.stats.files == 6


def _check_reads(run):
    tids = [FIRST + i for i in range(12)]
    assert list(run.train_ids) == tids
    assert set(run.control_sources) == {XGM, MOTOR}
    assert set(run.instrument_sources) == {AGIPD, CAM}
    np.testing.assert_array_equal(run.train_timestamps().astype(np.int64),
                                  [T0 + i * 100_000_000 for i in range(12)])
    ix = run[XGM, "beamPosition.ixPos"].ndarray()
    expected = [0.5] + [float(max(j for j in (1, 5, 9) if j <= i)) for i in range(1, 12)]
    np.testing.assert_array_equal(ix, expected)
    ts = run[XGM, "beamPosition.ixPos.timestamp"].ndarray()
    assert ts[0] == 1_699_999_999 * 10**9 and ts[1] == 1_700_000_001 * 10**9 and all(np.diff(ts.astype(np.int64)) >= 0)
    np.testing.assert_array_equal(run[XGM, "gains"].ndarray(), [[1, 2, 3]] * 12)
    assert run[XGM, "state"].ndarray().tolist() == ["ON"] * 12
    assert run[XGM].run_value("beamPosition.ixPos") == pytest.approx(0.5)
    # extra_data returns vectors of strings as bytes, like the facility's files
    assert [n.decode() for n in run[XGM].run_value("names")] == ["a", "b"]
    assert run[XGM].device_class == "DoocsXGM"
    assert run[XGM, "beamPosition.ixPos"].units == "mm"
    assert run[MOTOR, "position"].data_counts().tolist() == [0] * 6 + [1] * 6
    assert run[MOTOR].run_value("position") == 1.25
    counts = run[AGIPD, "image.data"].data_counts()
    assert counts.tolist() == [0 if i % 5 == 3 else i % 4 for i in range(12)]
    data = run[AGIPD, "image.data"].ndarray()
    want = np.concatenate([_frames(FIRST + i, i % 4)["image.data"] for i in range(12) if i % 5 != 3])
    np.testing.assert_array_equal(data, want)
    np.testing.assert_array_equal(run[AGIPD, "image.trainId"].ndarray(),
                                  np.repeat(tids, counts.tolist()))
    assert run[AGIPD, "header.pulseCount"].ndarray().tolist() == [i % 4 for i in range(12) if i % 5 != 3]
    assert run[CAM, "data.image.pixels"].data_counts().tolist() == [i % 2 for i in range(12)]
    np.testing.assert_array_equal(run[CAM, "data.image.pixels"].ndarray()[:, 0, 0], [1, 3, 5, 7, 9, 11])
    tid, train = next(iter(run.select([AGIPD], "image.data").trains(require_all=True)))
    assert tid == FIRST + 1 and train[AGIPD]["image.data"].shape == (2, 8, 4)


def test_reads_back(reference_run):
    run_dir, _ = reference_run
    _check_reads(extra_data.RunDirectory(run_dir))


def test_reads_back_through_overview_file(reference_run, tmp_path):
    import shutil
    run_dir = tmp_path / "r0007"
    shutil.copytree(reference_run[0], run_dir)
    subprocess.run([sys.executable, "-m", "extra_data.voview", str(run_dir)], check=True, capture_output=True,
                   timeout=120)
    assert (run_dir / "overview.h5").exists()
    subprocess.run([sys.executable, "-m", "extra_data.voview", "--check", str(run_dir)], check=True,
                   capture_output=True, timeout=120)
    run = extra_data.RunDirectory(run_dir)
    assert [f.filename for f in run.files] == [str(run_dir / "overview.h5")]
    _check_reads(run)
    validate(run_dir)


def test_format_1_0(tmp_path):
    _write_reference_run(tmp_path, format_version="1.0")
    run_dir = tmp_path / "r0007"
    validate(run_dir)
    with h5py.File(run_dir / "RAW-R0007-DA01-S00000.h5") as f:
        assert f["METADATA/dataFormatVersion"][0] == b"1.0" and "origin" not in f["INDEX"]
        assert "unitSymbol" not in f["CONTROL/SA1_XTD2_XGM/DOOCS/MAIN/beamPosition/ixPos"].attrs
    run = extra_data.RunDirectory(run_dir)
    assert len(run.train_ids) == 12 and run[XGM, "beamPosition.ixPos"].ndarray()[-1] == 9.0


def test_irregular_input_is_counted_and_run_stays_valid(tmp_path, caplog):
    w = RunWriter(tmp_path, 1)
    w.add_control_source(XGM, Hash("x", 1.0, "v", np.zeros(3)))
    upd = Hash("x", 2.0)
    upd.setAttribute("x", "sec", 1_700_000_010)
    assert w.write_train(10, T0, {XGM: upd})
    old = Hash("x", 3.0)    # stamped before the held value: dropped
    old.setAttribute("x", "sec", 1_700_000_005)
    assert w.write_train(11, T0 + 1, {XGM: old})
    assert not w.write_train(11, T0 + 2, {XGM: Hash("x", 4.0)})      # duplicate
    assert not w.write_train(5, T0 + 3, {})                           # older
    assert w.write_train(12, T0 + 4, {XGM: Hash("unknown", 1, "v", np.zeros(5))})
    assert w.write_train(13, T0 + 5, {XGM: Hash("x", 5.0)})           # no own timestamp: train's, clamped
    w.close()
    assert (w.stats.rejectedTrains, w.stats.staleUpdates, w.stats.unknownKeys, w.stats.mismatched) == (2, 1, 1, 1)
    assert "rejected" in caplog.text
    validate(tmp_path / "r0001")
    run = extra_data.RunDirectory(tmp_path / "r0001")
    assert list(run.train_ids) == [10, 11, 12, 13]
    assert run[XGM, "x"].ndarray().tolist() == [2.0, 2.0, 2.0, 5.0]
    ts = run[XGM, "x.timestamp"].ndarray().tolist()
    assert ts[:3] == [1_700_000_010 * 10**9] * 3 and ts[3] == ts[2]


def test_rollover_by_bytes(tmp_path):
    with RunWriter(tmp_path, 2, max_bytes=3000, flush_interval=0) as w:
        for i in range(10):
            w.write_train(100 + i, T0 + i, {CAM: Hash("data.image", np.zeros((20, 20), np.uint16))})
    assert len(w.closedFiles) == 3    # 808 bytes per train: 4 + 4 + 2 trains
    validate(tmp_path / "r0002")
    assert len(extra_data.RunDirectory(tmp_path / "r0002").train_ids) == 10


def test_refuses_existing_run_and_bad_arguments(tmp_path):
    with RunWriter(tmp_path, 3) as w:
        w.write_train(1, T0, {XGM: Hash("x", 1)})
    with pytest.raises(DaqError, match="refusing"):
        RunWriter(tmp_path, 3)
    with pytest.raises(DaqError):
        RunWriter(tmp_path, 4, format_version="0.5")
    with pytest.raises(DaqError):
        RunWriter(tmp_path / "r0003" / "RAW-R0003-DA01-S00000.h5", 5)   # a file, not a directory


_PERMISSION_CHILD = """
import os, sys
from pykarabo.daq import RunWriter, DaqError
os.setgid(65534); os.setuid(65534)     # after the imports: nobody may not read the interpreter's files
try:
    RunWriter(sys.argv[1], 1)
except DaqError as e:
    print("DaqError:", e); sys.exit(3)
"""


def test_permission_denied(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    tmp_path.chmod(0o755)
    if os.geteuid() != 0:
        with pytest.raises(DaqError, match="cannot create run directory"):
            RunWriter(ro, 1)
        return
    # root ignores permission bits: try as nobody in a child process
    res = subprocess.run([sys.executable, "-c", _PERMISSION_CHILD, str(ro)], capture_output=True, text=True,
                         check=False, timeout=60, cwd="/")
    assert res.returncode == 3, res.stdout + res.stderr
    assert "cannot create run directory" in res.stdout and "Permission denied" in res.stdout


_FULL_DISK_CHILD = """
import resource, signal, sys
import numpy as np
from pykarabo import Hash
from pykarabo.daq import RunWriter, DaqError
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)      # writes past the limit fail with EFBIG instead
resource.setrlimit(resource.RLIMIT_FSIZE, (400_000, 400_000))
w = RunWriter(sys.argv[1], 1, max_trains=10, flush_interval=0)
try:
    for i in range(100):   # a big source joins in the second file, which outgrows the limit
        name, side = ("CAM/X/Y:small", 10) if i < 10 else ("CAM/X/Y:big", 200)
        w.write_train(1 + i, None, {name: Hash("data.image", np.full((side, side), i, np.uint16))})
except DaqError as e:
    print("DaqError:", e)
    w.close()
    sys.exit(3)
"""


def test_disk_full_leaves_closed_files_intact(tmp_path):
    res = subprocess.run([sys.executable, "-c", _FULL_DISK_CHILD, str(tmp_path)], capture_output=True, text=True,
                         check=False, timeout=60)
    assert res.returncode == 3, res.stdout + res.stderr
    assert "left as a part file" in res.stdout
    run_dir = tmp_path / "r0001"
    assert len(list(run_dir.glob("*.h5.part"))) == 1
    validate(run_dir)
    run = extra_data.RunDirectory(run_dir)
    assert list(run.train_ids) == list(range(1, 11))


def test_vanished_directory(tmp_path):
    w = RunWriter(tmp_path, 1, max_trains=2)
    for i in range(3):
        w.write_train(1 + i, T0 + i, {XGM: Hash("x", i)})
    (tmp_path / "r0001").rename(tmp_path / "moved")
    with pytest.raises(DaqError, match="closed files are intact"):
        for i in range(3, 6):
            w.write_train(1 + i, T0 + i, {XGM: Hash("x", i)})
    with pytest.raises(DaqError, match="failed earlier"):
        w.write_train(100, T0, {})
    w.close()
    assert extra_data.RunDirectory(tmp_path / "moved").train_ids == [1, 2]


_KILL_CHILD = """
import sys, time
import numpy as np
from pykarabo import Hash
from pykarabo.daq import RunWriter
w = RunWriter(sys.argv[1], 1, max_trains=5, flush_interval=None)
for i in range(13):
    w.write_train(10 + i, None, {"X/Y/Z": Hash("x", float(i)),
                                 "X/Y/Z:out": Hash("data.a", np.full((2, 3), i, np.uint8))})
w.flush()
print("flushed", flush=True)
time.sleep(60)
"""


def test_killed_writer(tmp_path):
    """A writer killed with SIGKILL leaves its open file as ``.h5.part``: readers ignore it, and
    ``recover_run`` turns it into a valid sequence file holding the trains of the last flush."""
    proc = subprocess.Popen([sys.executable, "-c", _KILL_CHILD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "flushed"
    finally:
        proc.kill()
        proc.wait(10)
    run_dir = tmp_path / "r0001"
    assert [p.name for p in run_dir.glob("*.part")] == ["RAW-R0001-DA01-S00002.h5.part"]
    validate(run_dir)
    assert list(extra_data.RunDirectory(run_dir).train_ids) == list(range(10, 20))
    recovered, left = recover_run(run_dir)
    assert [p.name for p in recovered] == ["RAW-R0001-DA01-S00002.h5"] and not left
    validate(run_dir)
    run = extra_data.RunDirectory(run_dir)
    assert list(run.train_ids) == list(range(10, 23))
    assert run["X/Y/Z", "x"].ndarray().tolist() == [float(i) for i in range(13)]
    assert run["X/Y/Z:out", "data.a"].ndarray()[:, 0, 0].tolist() == list(range(13))


def test_unreadable_part_file_is_left_out(tmp_path):
    (tmp_path / "RAW-R0001-DA01-S00000.h5.part").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    recovered, left = recover_run(tmp_path)
    assert not recovered and [p.name for p in left] == ["RAW-R0001-DA01-S00000.h5.part"]


def test_unrecordable_values_are_skipped(tmp_path):
    cfg = Hash("ok", 1, "table", [Hash("a", 1)], "none", None)
    cfg.set("odd/key", 2, sep="\x00")
    with RunWriter(tmp_path, 1) as w:
        w.add_control_source(MOTOR, cfg)
        w.write_train(1, T0, {CAM: Hash("data.a", 1.0, "data.b", "text", "data.c", [Hash()]),
                              MOTOR: Hash("ok", "not a number")})
    assert w.stats.unrecordable == 4 and w.stats.mismatched == 1
    validate(tmp_path / "r0001")
    run = extra_data.RunDirectory(tmp_path / "r0001")
    assert run[MOTOR].keys() == {"ok.value", "ok.timestamp"} and run[MOTOR, "ok"].ndarray().tolist() == [1]
    assert run[CAM, "data.b"].ndarray().tolist() == ["text"]


_FLUSHING_CHILD = """
import sys, time
import numpy as np
from pykarabo import Hash
from pykarabo.daq import RunWriter
w = RunWriter(sys.argv[1], 1, max_trains=50, flush_interval=float(sys.argv[2]))
for i in range(100000):
    w.write_train(10 + i, None, {"X/Y/Z:out": Hash("data.a", np.full((64, 64), i % 256, np.uint8))})
    print(10 + i, time.monotonic(), flush=True)     # acknowledged: write_train returned
    time.sleep(0.03)                                 # killed here, not inside a flush (see recover_run)
"""


def test_flush_interval_bounds_what_a_crash_loses(tmp_path):
    """SIGKILL between two trains: after ``recover_run`` every train acknowledged more than one flush
    interval (plus the time to the next train) before the kill is in the run, which validates.

    (A kill *during* a flush, a few milliseconds every interval, can leave the part file unreadable:
    ``recover_run`` then leaves it out with a warning; ``test_unreadable_part_file_is_left_out``.)"""
    interval = 0.3
    proc = subprocess.Popen([sys.executable, "-c", _FLUSHING_CHILD, str(tmp_path), str(interval)],
                            stdout=subprocess.PIPE, text=True)
    acks = []
    try:
        while len(acks) < 80:   # beyond one closed file, well into the second
            tid, at = proc.stdout.readline().split()
            acks.append((int(tid), float(at)))
        killedAt = time.monotonic()
    finally:
        proc.kill()
        proc.wait(10)
    run_dir = tmp_path / "r0001"
    validate(run_dir)    # the part file is not a run file: readers see the closed sequences only
    recovered, left = recover_run(run_dir)
    assert [p.name for p in recovered] == ["RAW-R0001-DA01-S00001.h5"] and not left
    validate(run_dir)
    run = extra_data.RunDirectory(run_dir)
    tids = list(run.train_ids)
    assert tids == list(range(10, 10 + len(tids)))
    mustHave = [tid for tid, at in acks if at <= killedAt - interval - 0.1]
    assert tids[-1] >= mustHave[-1] and len(tids) > 50
    np.testing.assert_array_equal(run["X/Y/Z:out", "data.a"].ndarray()[:, 0, 0], np.arange(len(tids)) % 256)
