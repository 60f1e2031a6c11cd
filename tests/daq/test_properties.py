"""Property: random sequences of trains and sources written by RunWriter read back identically
through extra_data, and extra-data's validator finds no problem."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pykarabo import Hash
from pykarabo.daq import RunWriter

extra_data = pytest.importorskip("extra_data", reason="runs are read back with extra-data (test extra)")
from extra_data.validation import FileValidator, RunValidator, _open_file


def _problems(run_dir: Path) -> list:
    """extra-data-validate's checks, run in this process (its process pool costs seconds per run)."""
    problems, accesses = [], []
    for path in sorted(run_dir.glob("*.h5")):
        fa, found = _open_file(str(path))
        problems += found
        if fa is not None:
            problems += FileValidator(fa).run_checks()
            accesses.append(fa)
    for check in RunValidator.check_funcs:
        problems += check(str(run_dir), accesses)
    return problems

CONTROL = ("A/CTRL/ONE", "B/CTRL/TWO")
INSTRUMENT = ("A/DET/ONE:out", "B/CAM/TWO:daqOutput")
KEYS = {"x": np.float64, "n": np.int32, "on": np.uint8, "vec": np.float32}


def _value(key: str, v: int):
    if key == "vec":
        return np.array([v, -v], np.float32)
    return {"x": float(v) / 4, "n": np.int32(v), "on": bool(v % 2)}[key]


@st.composite
def runs(draw):
    n = draw(st.integers(1, 8))
    tids = sorted(draw(st.sets(st.integers(1, 10**9), min_size=n, max_size=n)))
    trains = []
    for _ in tids:
        ctrl = {s: draw(st.dictionaries(st.sampled_from(sorted(KEYS)), st.integers(-9, 9), max_size=4))
                for s in draw(st.sets(st.sampled_from(CONTROL)))}
        inst = {s: (draw(st.integers(0, 3)), draw(st.integers(0, 2)))   # (frames, train-group items)
                for s in draw(st.sets(st.sampled_from(INSTRUMENT)))}
        trains.append((ctrl, inst))
    return tids, trains, draw(st.integers(1, 5)), draw(st.sampled_from(("1.0", "1.3")))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(runs())
def test_random_runs_read_back(case):
    tids, trains, max_trains, version = case
    tmp = Path(tempfile.mkdtemp())
    try:
        _check(tmp, tids, trains, max_trains, version)
    finally:
        shutil.rmtree(tmp)


def _check(tmp, tids, trains, max_trains, version):
    state: dict[str, dict[str, int]] = {}            # control source -> current values
    expect_ctrl: dict[str, dict[str, list]] = {}     # source -> key -> per-train values (None: no row)
    expect_inst: dict[str, dict[str, list]] = {}     # source -> group -> per-train arrays
    with RunWriter(tmp, 1, max_trains=max_trains, format_version=version,
                   aggregators={"DET01": [INSTRUMENT[0]]}) as w:
        w.add_instrument_source(INSTRUMENT[0], pulse_groups=("image",))
        for i, (tid, (ctrl, inst)) in enumerate(zip(tids, trains)):
            src = {}
            for s, upd in ctrl.items():
                if s not in state:          # first appearance: every key, this is its configuration
                    upd = {k: upd.get(k, 0) for k in KEYS}
                    state[s] = {}
                    expect_ctrl[s] = {k: [None] * i for k in KEYS}
                state[s].update(upd)
                src[s] = Hash(*[x for k, v in upd.items() for x in (k, _value(k, v))])
            for s, (frames, items) in inst.items():
                shape = (frames, 2, 3) if s == INSTRUMENT[0] else (2, 3)    # train groups: fixed row shape
                src[s] = [Hash("image.data", np.full(shape, tid % 60000, np.uint16),
                               "data.v", np.int64(tid + j)) for j in range(items)]
            for s in expect_ctrl:
                for k in KEYS:
                    expect_ctrl[s][k].append(_value(k, state[s][k]))
            for s in INSTRUMENT:
                frames, items = inst.get(s, (0, 0))
                exp = expect_inst.setdefault(s, {"image.data": [], "data.v": []})
                image = np.full((frames * items, 2, 3), tid % 60000, np.uint16)
                if s != INSTRUMENT[0]:    # not a pulse group there: each item is one row
                    image = np.full((items, 2, 3), tid % 60000, np.uint16)
                exp["image.data"].append(image)
                exp["data.v"].append(np.arange(tid, tid + items, dtype=np.int64))
            assert w.write_train(tid, 10**18 + i, src)
    run_dir = tmp / "r0001"
    assert _problems(run_dir) == []
    if not w.stats.sources:
        return
    run = extra_data.RunDirectory(run_dir, parallelize=False)
    assert list(run.train_ids) == tids
    assert set(run.control_sources) == set(expect_ctrl)
    for s, keys in expect_ctrl.items():
        for k, values in keys.items():
            kd = run[s, k]
            present = [v for v in values if v is not None]
            assert kd.data_counts().tolist() == [0 if v is None else 1 for v in values]
            np.testing.assert_array_equal(kd.ndarray(), np.array(present, dtype=KEYS[k]).reshape(kd.ndarray().shape))
    for s in run.instrument_sources:
        for key, per_train in expect_inst[s].items():
            kd = run[s, key]
            got = kd.ndarray()
            assert kd.data_counts().tolist() == [len(a) for a in per_train]
            want = np.concatenate(per_train)
            if want.size or got.size:
                np.testing.assert_array_equal(got, want.reshape(got.shape))
