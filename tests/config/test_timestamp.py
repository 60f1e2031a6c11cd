"""Tests of Epochstamp, TimeId, Timestamp and TimeDuration."""

import time
from datetime import datetime, timedelta, timezone
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pykarabo import timestamp as timestamp_module
from pykarabo.timestamp import (
    ATTOSEC_PER_SECOND,
    TIME_UNITS,
    Epochstamp,
    TimeDuration,
    TimeId,
    Timestamp,
    Trainstamp,
)

# Up to the end of year 9999, the range of datetime and of four-digit ISO years.
MAX_SECONDS = 253402300799
seconds = st.integers(min_value=0, max_value=MAX_SECONDS)
fractions = st.integers(min_value=0, max_value=ATTOSEC_PER_SECOND - 1)
epochstamps = st.builds(Epochstamp, seconds, fractions)
train_ids = st.integers(min_value=0, max_value=2**64 - 1)
timestamps = st.builds(Timestamp, epochstamps, train_ids)

UINT64 = object()  # stands in for Types.UINT64 of the compiled core


class FakeHash:
    """Records setAttribute calls like the real Hash would receive them."""

    def __init__(self):
        self.calls = []
        self.attrs = {}

    def setAttribute(self, path, name, value, type=None):
        self.calls.append((path, name, value, type))
        self.attrs.setdefault(path, {})[name] = value


@pytest.fixture
def fake_types(monkeypatch):
    monkeypatch.setattr(timestamp_module, "_uint64_type", lambda: UINT64)


def test_construction_and_getters():
    stamp = Epochstamp(1704164645, 123456789012345678)
    assert stamp.getSeconds() == 1704164645
    assert stamp.getFractionalSeconds() == 123456789012345678
    assert stamp.getAttoseconds() == 1704164645 * ATTOSEC_PER_SECOND + 123456789012345678
    with pytest.raises(ValueError):
        Epochstamp(1, ATTOSEC_PER_SECOND)
    with pytest.raises(ValueError):
        Epochstamp(-1, 0)
    with pytest.raises(ValueError):
        Epochstamp(2**64, 0)


def test_now_is_now():
    before = time.time()
    stamp = Epochstamp.now()
    after = time.time()
    assert before - 1e-3 <= stamp.toTimestamp() <= after + 1e-3
    assert abs(Timestamp().toTimestamp() - time.time()) < 1.0
    assert Timestamp().getTid() == 0


# Reference strings produced by Karabo 3.1.2's C++ Epochstamp for (1704164645, 123456789012345678).
@pytest.mark.parametrize(
    ("precision", "basic", "extended"),
    [
        (TIME_UNITS.ATTOSEC, "20240102T030405.123456789012345678", "2024-01-02T03:04:05.123456789012345678"),
        (TIME_UNITS.NANOSEC, "20240102T030405.123456789", "2024-01-02T03:04:05.123456789"),
        (TIME_UNITS.MICROSEC, "20240102T030405.123456", "2024-01-02T03:04:05.123456"),
        (TIME_UNITS.MILLISEC, "20240102T030405.123", "2024-01-02T03:04:05.123"),
        (TIME_UNITS.ONESECOND, "20240102T030405.0", "2024-01-02T03:04:05.0"),
    ],
)
def test_iso8601_format(precision, basic, extended):
    stamp = Epochstamp(1704164645, 123456789012345678)
    assert stamp.toIso8601(precision) == basic
    assert stamp.toIso8601(precision, True) == extended
    assert stamp.toIso8601Ext(precision) == basic + "Z"


def test_iso8601_default_is_microseconds():
    assert Epochstamp(1, 500000000000000000).toIso8601() == "19700101T000001.500000"
    assert Epochstamp(1, 500000000000000000).toIso8601Ext() == "19700101T000001.500000Z"


@pytest.mark.parametrize(
    ("text", "sec", "frac"),
    [
        ("20240102T030405.123456789012345678", 1704164645, 123456789012345678),
        ("2024-01-02T03:04:05.123456Z", 1704164645, 123456000000000000),
        ("2024-01-02T03:04:05", 1704164645, 0),
        ("20240102T030405", 1704164645, 0),
        ("2024-01-02T03:04:05.5+01:00", 1704161045, 500000000000000000),
        ("2024-01-02T03:04:05-0130", 1704170045, 0),
        ("2024-01-02 03:04:05.1234567890123456789", 1704164645, 123456789012345678),
    ],
)
def test_iso8601_parse(text, sec, frac):
    stamp = Epochstamp(text)
    assert (stamp.getSeconds(), stamp.getFractionalSeconds()) == (sec, frac)
    assert Epochstamp.fromIso8601(text) == stamp


@pytest.mark.parametrize("text", ["", "yesterday", "2024-01-02", "2024-13-02T03:04:05", "2024-01-0203:04:05"])
def test_iso8601_parse_rejects_garbage(text):
    with pytest.raises(ValueError):
        Epochstamp(text)


@given(epochstamps, st.booleans())
def test_iso8601_round_trip_keeps_attoseconds(stamp, extended):
    assert Epochstamp(stamp.toIso8601(TIME_UNITS.ATTOSEC, extended)) == stamp
    assert Epochstamp(stamp.toIso8601Ext(TIME_UNITS.ATTOSEC, extended)) == stamp


@given(epochstamps, st.sampled_from(list(TIME_UNITS)))
def test_iso8601_truncates_to_precision(stamp, precision):
    parsed = Epochstamp(stamp.toIso8601(precision))
    step = 10 ** int(precision)
    assert parsed.getAttoseconds() == stamp.getAttoseconds() // step * step


@given(st.datetimes(min_value=datetime(1970, 1, 1), timezones=st.just(timezone.utc)))
def test_datetime_round_trip(moment):
    stamp = Epochstamp.fromDatetime(moment)
    assert stamp.toDatetime() == moment
    assert stamp.getFractionalSeconds() == moment.microsecond * 10**12


@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(9998, 1, 1)))
def test_naive_datetime_is_local_time(moment):
    assert Epochstamp.fromDatetime(moment).toDatetime() == moment.astimezone(timezone.utc)


def test_datetime_with_offset():
    moment = datetime(2024, 1, 2, 4, 4, 5, 250000, tzinfo=timezone(timedelta(hours=1)))
    assert Epochstamp.fromDatetime(moment) == Epochstamp(1704164645, 250000000000000000)


@given(epochstamps)
def test_datetime_truncates_to_microseconds(stamp):
    moment = stamp.toDatetime()
    assert moment.tzinfo is timezone.utc
    assert Epochstamp.fromDatetime(moment).getAttoseconds() == stamp.getAttoseconds() // 10**12 * 10**12


@given(st.floats(min_value=1.0, max_value=1e11))
def test_float_round_trip(value):
    assert Epochstamp.fromTimestamp(value).toTimestamp() == value


def test_float_conversion_is_exact():
    assert Epochstamp.fromTimestamp(1.5) == Epochstamp(1, 500000000000000000)
    assert Epochstamp.fromTimestamp(2) == Epochstamp(2, 0)
    with pytest.raises(ValueError):
        Epochstamp.fromTimestamp(-0.5)


def test_durations_like_karabo():
    later, earlier = Epochstamp(10, 5), Epochstamp(3, 7)
    distance = later - earlier
    assert distance == earlier - later == TimeDuration(6, ATTOSEC_PER_SECOND - 2)
    assert distance.getTotalSeconds() == 6
    assert distance.getFractions() == 999999999
    assert distance.getFractions(TIME_UNITS.ATTOSEC) == ATTOSEC_PER_SECOND - 2
    assert float(TimeDuration(1, 250000000000000000)) == 1.25
    assert earlier + distance == later
    assert later - distance == earlier
    assert TimeDuration(1) + TimeDuration(0, 5) == TimeDuration(1, 5)
    assert TimeDuration(1) > TimeDuration(0, 5)
    assert earlier.elapsed(later) == distance
    assert Epochstamp().elapsed() < TimeDuration(60)
    with pytest.raises(ValueError):
        TimeDuration(-1)


@given(epochstamps, epochstamps)
def test_epochstamp_order_and_hash(a, b):
    assert (a < b) == (a.getAttoseconds() < b.getAttoseconds())
    if a == b:
        assert hash(a) == hash(b)
    assert (a - b).getTotalSeconds() == abs(a.getAttoseconds() - b.getAttoseconds()) // ATTOSEC_PER_SECOND


def test_time_id():
    assert Trainstamp is TimeId
    tid = TimeId(42)
    assert tid.getTid() == int(tid) == 42
    assert TimeId() == TimeId(0)
    assert TimeId(1) < TimeId(2)
    assert len({TimeId(3), TimeId(3)}) == 1
    with pytest.raises(ValueError):
        TimeId(-1)
    with pytest.raises(ValueError):
        TimeId(2**64)


def test_timestamp_getters():
    stamp = Timestamp(Epochstamp(1704164645, 123456789012345678), 7)
    assert stamp.getSeconds() == 1704164645
    assert stamp.getFractionalSeconds() == 123456789012345678
    assert stamp.getTrainId() == stamp.getTid() == stamp.tid == 7
    assert stamp.getTimeId() == TimeId(7)
    assert stamp.getEpochstamp() == Epochstamp(1704164645, 123456789012345678)
    assert stamp.time == 1704164645 * ATTOSEC_PER_SECOND + 123456789012345678
    assert stamp.toIso8601() == "20240102T030405.123456"
    assert stamp.toIso8601Ext(TIME_UNITS.NANOSEC, True) == "2024-01-02T03:04:05.123456789Z"
    assert stamp.toTimestamp() == pytest.approx(1704164645.1234567)
    assert stamp.toDatetime() == datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=timezone.utc)
    assert Timestamp(Epochstamp(1, 0), TimeId(3)).getTid() == 3


def test_toDict_order():
    stamp = Timestamp(Epochstamp(5, 6), 7)
    assert list(stamp.toDict().items()) == [("sec", 5), ("frac", 6), ("tid", 7)]


def test_toHashAttributes_order_and_type(fake_types):
    target = FakeHash()
    Timestamp(Epochstamp(5, 6), 7).toHashAttributes(target, "a.b")
    assert target.calls == [
        ("a.b", "sec", 5, UINT64),
        ("a.b", "frac", 6, UINT64),
        ("a.b", "tid", 7, UINT64),
    ]


@given(timestamps)
def test_hash_attribute_round_trip(stamp):
    target = FakeHash()
    with mock.patch.object(timestamp_module, "_uint64_type", lambda: UINT64):
        stamp.toHashAttributes(target, "x")
    attrs = target.attrs["x"]
    assert list(attrs) == ["sec", "frac", "tid"]
    assert Timestamp.hashAttributesContainTimeInformation(attrs)
    assert Timestamp.fromHashAttributes(attrs) == stamp
    assert Epochstamp.fromHashAttributes(attrs) == stamp.getEpochstamp()
    assert TimeId.fromHashAttributes(attrs) == stamp.getTimeId()
    assert Timestamp.fromHashAttributes(stamp.toDict()) == stamp


def test_fromHashAttributes_accepts_any_mapping_and_numpy():
    np = pytest.importorskip("numpy")
    attrs = {"tid": np.uint64(9), "frac": np.uint64(2), "sec": np.uint64(1), "other": "x"}
    stamp = Timestamp.fromHashAttributes(attrs)
    assert stamp.toDict() == {"sec": 1, "frac": 2, "tid": 9}
    assert all(type(v) is int for v in stamp.toDict().values())


def test_fromHashAttributes_names_missing_attributes():
    with pytest.raises(KeyError, match="tid"):
        Timestamp.fromHashAttributes({"sec": 1, "frac": 2})
    assert not Timestamp.hashAttributesContainTimeInformation({"sec": 1, "frac": 2})
    assert Epochstamp.hashAttributesContainTimeInformation({"sec": 1, "frac": 2})
    assert not TimeId.hashAttributesContainTimeInformation({"sec": 1})


@given(timestamps, timestamps)
def test_timestamp_order_equality_and_hash(a, b):
    assert (a == b) == ((a.time, a.tid) == (b.time, b.tid))
    assert (a < b) == ((a.time, a.tid) < (b.time, b.tid))
    if a == b:
        assert hash(a) == hash(b)
    assert a - b == pytest.approx((a.time - b.time) / ATTOSEC_PER_SECOND)


def test_timestamp_difference_is_signed_seconds():
    assert Timestamp(Epochstamp(3, 0)) - Timestamp(Epochstamp(1, 500000000000000000)) == 1.5
    assert Timestamp(Epochstamp(1, 0)) - Timestamp(Epochstamp(3, 0)) == -2.0
