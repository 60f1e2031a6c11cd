"""Train matching of the DAQ (``pykarabo.daq.recorder``): random arrival orders, duplicates, late items and
updates; what reaches the run reads back through extra_data as the rules promise."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pykarabo import Hash
from pykarabo.daq import RunWriter
from pykarabo.daq.recorder import Recorder

from .conftest import validate

extra_data = pytest.importorskip("extra_data", reason="runs are read back with extra-data (test extra)")

SOURCES = ("A/DET/1:out", "B/CAM/2:daqOutput", "C/LATE/3:out")   # C only joins after a few items
MOTOR = "M/MOTOR/1"
T0 = 1_700_000_000_000_000_000

# one event: (kind, source index, train offset, seconds that pass before it)
events = st.lists(st.tuples(st.sampled_from(["item", "item", "item", "update"]), st.integers(0, 2),
                            st.integers(0, 14), st.sampled_from([0.0, 0.05, 0.4, 1.2])),
                  min_size=1, max_size=60)


def _item(tid: int, seq: int) -> Hash:
    # 'data.tag' says which item this is, to find it again in the run
    return Hash("data.tag", np.int64(tid * 1000 + seq), "image.data", np.full((tid % 3, 2, 2), seq, np.uint16))


def _update(value: float, tid: int) -> Hash:
    h = Hash("position", value)
    h.setAttribute("position", "sec", 1_700_000_000 + tid)   # time and train ID agree, as a time server makes them
    h.setAttribute("position", "tid", tid)
    return h


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(evs=events)
def test_random_arrivals_read_back(tmp_path_factory, evs):
    out = tmp_path_factory.mktemp("rec")
    writer = RunWriter(out, 1, max_trains=4, flush_interval=None)
    recorder = Recorder(writer, maxWait=1.0, expected=SOURCES[:2], pulseGroups=("image",))
    recorder.addControl(MOTOR, _update(-1.0, 0))
    now = 0.0
    sent: dict[str, list[int]] = {s: [] for s in SOURCES}
    updates: dict[float, int] = {}
    for seq, (kind, s, offset, dt) in enumerate(evs):
        now += dt
        tid = 100 + offset
        recorder.poll(now)
        if kind == "update":
            updates[float(seq)] = tid
            recorder.addUpdate(MOTOR, _update(float(seq), tid))
            continue
        source = SOURCES[s] if s < 2 or seq >= 5 else SOURCES[0]
        sent[source].append(tid * 1000 + seq)
        recorder.addItem(source, tid, T0 + tid, _item(tid, seq), now)
    files = recorder.finish()
    if not recorder.trainsWritten:
        assert not files
        return
    run_dir = out / "r0001"
    validate(run_dir)
    run = extra_data.RunDirectory(run_dir)
    tids = list(run.train_ids)
    assert tids == sorted(set(tids)) and len(tids) == recorder.trainsWritten   # each train once, in order
    recorded = 0
    for source in run.instrument_sources:
        tags = run[source, "data.tag"]
        counts = tags.data_counts().tolist()
        values = tags.ndarray().tolist()
        rowTrain = np.repeat(tids, counts).tolist()
        assert [v // 1000 for v in values] == rowTrain            # every item sits in its own train
        assert set(values) <= set(sent[source])
        assert len(values) == len(set(values))                    # and is recorded once
        frames = run[source, "image.data"].data_counts().tolist()
        assert frames == [t % 3 * c for t, c in zip(tids, counts)]   # frames of a train stay together
        recorded += len(values)
    assert recorded + recorder.droppedItems == sum(map(len, sent.values()))
    positions = run[MOTOR, "position"].ndarray().tolist()
    for tid, value in zip(tids, positions):   # an update never shows before its train
        assert value == -1.0 or updates[value] <= tid
    assert run[MOTOR].run_value("position") == -1.0


def test_waits_for_expected_sources_then_writes_incomplete(tmp_path):
    writer = RunWriter(tmp_path, 1)
    recorder = Recorder(writer, maxWait=0.5, expected=SOURCES[:2])
    recorder.addItem(SOURCES[0], 10, T0, _item(10, 0), now=0.0)
    recorder.addItem(SOURCES[0], 11, T0, _item(11, 1), now=0.1)
    recorder.poll(0.4)
    assert recorder.trainsWritten == 0 and recorder.pendingTrains == 2      # B has not sent train 10 yet
    recorder.addItem(SOURCES[1], 11, T0, _item(11, 2), now=0.45)            # B moved past 10: 10 is complete
    assert recorder.trainsWritten == 2 and recorder.incompleteTrains == 0
    recorder.addItem(SOURCES[0], 12, T0, _item(12, 3), now=0.5)
    recorder.poll(0.9)
    assert recorder.trainsWritten == 2
    recorder.poll(1.0)                                                      # waited maxWait: written without B
    assert recorder.trainsWritten == 3 and recorder.incompleteTrains == 1
    recorder.addItem(SOURCES[1], 12, T0, _item(12, 4), now=1.1)            # too late: dropped, not written twice
    recorder.addItem(SOURCES[0], 0, T0, _item(0, 5), now=1.1)               # no train ID: cannot be placed
    assert recorder.droppedTrains == 2 and recorder.items == 6
    recorder.finish()
    run = extra_data.RunDirectory(tmp_path / "r0001")
    assert run[SOURCES[1], "data.tag"].data_counts().tolist() == [0, 1, 0]


def test_control_only_runs_follow_a_clock(tmp_path):
    writer = RunWriter(tmp_path, 1)
    recorder = Recorder(writer, clock=True)
    recorder.addControl(MOTOR, _update(1.0, 0))
    recorder.poll(0.0)
    recorder.addUpdate(MOTOR, _update(2.0, 0))
    recorder.poll(0.05)    # not yet: 10 trains per second
    recorder.poll(0.1)
    recorder.finish()
    validate(tmp_path / "r0001")
    run = extra_data.RunDirectory(tmp_path / "r0001")
    assert run[MOTOR, "position"].ndarray().tolist() == [1.0, 2.0]
    assert np.diff(run.train_ids).min() >= 1
