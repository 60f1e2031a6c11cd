"""TrainMatcher (no I/O): train ID order, completeness, the incomplete-train policy, selection, under any arrival order."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pykarabo import Hash
from pykarabo.bridge import TrainMatcher

SOURCES = ["A:out", "B:out", "C:out"]

# an arrival: (source index, train ID) or a clock advance in seconds
events = st.lists(st.one_of(st.tuples(st.integers(0, 2), st.integers(1, 12)),
                            st.floats(0.0, 1.0, allow_nan=False)), max_size=60)


def item(tid: int) -> Hash:
    h = Hash()
    h["image.data"] = np.full((2, 2), tid, np.uint16)
    h["x"] = tid
    return h


@settings(max_examples=300, deadline=None, database=None)
@given(events, st.sampled_from(["send", "drop"]), st.booleans())
def test_any_arrival_order(sequence: list, incomplete: str, declared: bool) -> None:
    """Trains leave in increasing ID order, each item at most once, complete ones at once, nothing left over."""
    out: list[tuple[dict, dict]] = []
    m = TrainMatcher(lambda d, md: out.append((d, md)), sources=SOURCES if declared else None, wait_time=0.5,
                     incomplete=incomplete)
    now, accepted, sent_before = 0.0, {}, 0
    for event in sequence:
        if isinstance(event, float):
            now += event
            m.expire(now)
            continue
        src, tid = SOURCES[event[0]], event[1]
        late_before = m.items_late
        m.add(item(tid), src, 1, 0, tid, now)
        if m.items_late == late_before:
            accepted.setdefault(tid, set()).add(src)
        if declared and accepted.get(tid) == set(SOURCES) and m.items_late == late_before:
            assert len(out) > sent_before and out[-1][1][src]["timestamp.tid"] == tid   # complete: sent at once
        sent_before = len(out)
    m.end_of_stream()
    tids = [next(iter(md.values()))["timestamp.tid"] for _, md in out]
    assert tids == sorted(set(tids))
    for data, md in out:
        tid = next(iter(md.values()))["timestamp.tid"]
        assert set(data) <= accepted[tid]
        for src, props in data.items():
            assert md[src]["timestamp.tid"] == tid and props["x"] == tid
    assert m.pending == 0
    assert m.trains_complete + m.trains_incomplete == len(accepted)
    assert len(out) == len(accepted) - m.trains_discarded
    assert m.trains_discarded == (m.trains_incomplete if incomplete == "drop" else 0)


def test_selection_and_reconfiguration() -> None:
    """Unselected sources are ignored; filtered keys are listed; wait time and policy change while running."""
    out: list = []
    m = TrainMatcher(lambda d, md: out.append((d, md)), sources=["A:out", "B:out"], keys=["image.*"], wait_time=5)
    m.add(item(1), "C:out", 1, 0, 1, now=0)
    m.add(item(1), "A:out", 1, 0, 1, now=0)
    assert m.items_ignored == 1 and m.pending == 1 and not out
    m.configure(wait_time=0.1, incomplete="drop")
    m.expire(now=0.2)
    assert not out and m.trains_discarded == 1
    m.add(item(2), "A:out", 1, 0, 2, now=1)
    m.add(item(2), "B:out", 1, 0, 2, now=1)
    (data, md), = out
    assert list(data["A:out"]) == ["image.data"] and md["A:out"]["ignored_keys"] == ["x"]
    with pytest.raises(ValueError, match="incomplete must be 'send' or 'drop'"):
        m.configure(incomplete="keep")
    with pytest.raises(ValueError, match="wait_time must not be negative"):
        m.configure(wait_time=-1)
    with pytest.raises(ValueError, match="layout must be one of"):
        TrainMatcher(print, layout="sideways")
