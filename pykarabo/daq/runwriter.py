"""Write one European XFEL run directory (EXDF format 1.3 or 1.0) from trains of Hashes.

Usage::

    with RunWriter("/data/raw", run=1, aggregators={"AGIPD00": ["SPB_DET/DET/0CH0:xtdf"]}) as w:
        w.add_control_source("SA1_XTD2_XGM/DOOCS/MAIN", configuration, schema)
        w.add_instrument_source("SPB_DET/DET/0CH0:xtdf", pulse_groups=("image",))
        w.write_train(trainId, timestamp_ns, {"SA1_XTD2_XGM/DOOCS/MAIN": updates,
                                               "SPB_DET/DET/0CH0:xtdf": Hash("image.data", frames)})

Semantics (see the EXDF spec, checklist §16):

* Sources named ``DEVICE:channel`` are instrument sources, all others control sources.  A source
  belongs to one aggregator (``aggregators``; the others go to ``default_aggregator``).  Each
  aggregator writes its own sequence files, rolled over after ``max_trains`` trains or
  ``max_bytes`` bytes; a file records every train from the moment its aggregator has a source.
* Control sources: the data of a train is a Hash of *updates*; every train gets one row per key
  with the latest value and its timestamp (node attributes ``sec``/``frac`` as Karabo sets them,
  else the train's timestamp).  An update older than the value it would replace is dropped.
  The keys are those of the configuration the source was registered with; others are dropped.
  ``RUN`` holds that configuration (plus ``classId``), identical in every file of the run.
  Vectors of strings are recorded in ``RUN`` only; tables, NONE and keys containing '/' are
  skipped (counted as ``unrecordable``).  Bools are stored as uint8, strings as vlen UTF-8.
* Instrument sources: the data of a train is a Hash or a list of Hashes (pipeline items).  Each
  top-level key is an index group (top-level leaves go to the group ``data``).  In a *pulse*
  group (``pulse_groups`` or ``daqDataType`` PULSE in the schema) the leading axis of every leaf
  holds the rows (frames); in a train group each item is one row.  A ``trainId`` dataset is
  added to every group that has none.  Rows of ndim >= 2 are chunked one row per chunk.
* Train IDs must increase: duplicates and older trains are rejected (counted, logged).
* Files are written as ``<name>.h5.part`` and renamed when complete, so a run directory only
  ever shows closed, valid files: a writer killed with SIGKILL leaves a run directory that
  validates, holding the closed sequences.  The part file is written to disk as a consistent
  whole at creation and then every ``flush_interval`` seconds (HDF5 is told to keep changed
  metadata in memory in between), so a crash loses at most the trains of the last interval.
  ``recover_run`` (run it before writing to the directory again) *repairs* a part file that opens
  and whose index is consistent: it becomes a run file with the trains of its last flush.  A part
  file that cannot be opened — killed during a flush itself (a few milliseconds per interval), or
  before its first train was flushed — is *left out*: it stays ``.h5.part`` (never read) and
  ``recover_run`` logs a warning naming it and returns it in its second list.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from pykarabo import Hash, Types
from pykarabo.errors import KaraboError

log = logging.getLogger(__name__)

DAQ_LIBRARY = "pykarabo"
KARABO_FRAMEWORK = "3"
FORMAT_VERSIONS = ("1.0", "1.3")
KEY_ATTRIBUTES = ("alias", "description", "displayedName", "daqPolicy", "metricPrefixSymbol", "unitSymbol",
                  "metricPrefixName", "unitName", "metricPrefixEnum", "unitEnum")
_STR = h5py.string_dtype("utf-8")
_ASCII = h5py.string_dtype("ascii")
_CHUNK_BYTES = 1 << 16        # target chunk size of datasets with small rows
_ONE_ROW_CHUNKS = 1 << 16     # rows at least this big get one chunk each (as do images)
_SEP = "\x00"


class DaqError(KaraboError, OSError):
    """The run cannot be written (permissions, disk full, directory gone, bad arguments)."""


@dataclass
class WriterStats:
    """What the writer did and what it had to reject."""

    trains: int = 0
    files: int = 0
    bytes: int = 0
    rejectedTrains: int = 0       # duplicate or older train IDs
    staleUpdates: int = 0         # control updates older than the value already held
    unknownKeys: int = 0          # control keys not in the source's configuration
    unrecordable: int = 0         # values with no EXDF representation (skipped)
    mismatched: int = 0           # values whose dtype/shape differ from the dataset (skipped)
    lateSources: int = 0          # sources that appeared after the first train
    sources: set[str] = field(default_factory=set)


def _to_ns(attrs: Any) -> int | None:
    """Nanoseconds since the epoch from Karabo ``sec``/``frac`` (attoseconds) attributes."""
    if attrs is None or "sec" not in attrs:
        return None
    return int(attrs["sec"]) * 1_000_000_000 + int(attrs.get("frac", 0)) // 1_000_000_000


def _leaf_array(value: Any, t: Types) -> np.ndarray | None:
    """The value of a Hash leaf as an EXDF array (bool as uint8), None if it has no EXDF form."""
    if t == Types.STRING:
        return np.array(value, dtype=object)
    if t in (Types.VECTOR_CHAR, Types.BYTE_ARRAY):
        return np.frombuffer(bytes(value), np.uint8)
    if t == Types.HASH and isinstance(value, np.ndarray):   # NDArray
        arr = value
    elif t.dtype is not None and t != Types.CHAR and t not in (Types.VECTOR_STRING,):
        arr = np.asarray(value, dtype=(t.elementType if t.isVector else t).dtype)
    else:
        return None
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8)
    return arr if arr.dtype.isnative else arr.astype(arr.dtype.newbyteorder("="))


def _leaves(h: Hash, prefix: str = "") -> Iterable[tuple[str, Any, Types, Any]]:
    """(dotted path, value, type, attributes) of every leaf; NDArrays are leaves."""
    for node in h.nodes():
        key = node.getKey()
        path = prefix + key
        t = Types(node.getType())
        value = node.getValue()
        if t in (Types.HASH, Types.HASH_POINTER) and isinstance(value, Hash) and type(value) is Hash:
            yield from _leaves(value, path + ".")
        else:
            yield path, value, t, node.getAttributes()


def _key_attributes(schema: Any, path: str) -> dict[str, Any]:
    """The format-1.3 attributes of a key from its schema element."""
    if schema is None or not schema.has(path):
        return {}
    out: dict[str, Any] = {}
    if schema.hasDescription(path):
        out["description"] = schema.getDescription(path)
    if schema.hasDisplayedName(path):
        out["displayedName"] = schema.getDisplayedName(path)
    if schema.keyHasAlias(path):
        out["alias"] = schema.getAliasAsString(path)
    if schema.hasUnit(path):
        unit = schema.getUnit(path)
        out.update(unitSymbol=unit.unitSymbol, unitName=unit.unitName, unitEnum=np.int32(unit.unitEnum))
    if schema.hasMetricPrefix(path):
        prefix = schema.getMetricPrefix(path)
        out.update(metricPrefixSymbol=prefix.metricPrefixSymbol, metricPrefixName=prefix.metricPrefixName,
                   metricPrefixEnum=np.int32(prefix.metricPrefixEnum))
    return out


def _holdMetadata(f: h5py.File) -> None:
    """Keep changed HDF5 metadata in memory until the next flush.

    HDF5 otherwise writes evicted metadata (object headers, chunk indices) in place at any time, so
    a writer killed between two flushes can leave a file whose structure is half old, half new.
    Without evictions the structure on disk is that of the last flush; data written since then went
    to new file space that this structure does not reference, so the file still opens.
    """
    cfg = f.id.get_mdc_config()
    cfg.evictions_enabled = False
    cfg.incr_mode = 0          # H5C_incr__off: the cache grows as needed instead of evicting
    cfg.flash_incr_mode = 0    # H5C_flash_incr__off
    cfg.decr_mode = 0          # H5C_decr__off
    f.id.set_mdc_config(cfg)


class _Column:
    """One dataset being filled row by row; small rows are buffered and written in blocks."""

    def __init__(self, group: h5py.Group, name: str, sample: np.ndarray, compress: bool):
        self.dtype = _STR if sample.dtype == object else sample.dtype
        self.rowShape = sample.shape
        rowBytes = max(1, sample.nbytes if sample.dtype != object else 16)
        oneRow = len(self.rowShape) >= 2 or rowBytes >= _ONE_ROW_CHUNKS
        chunkRows = 1 if oneRow else max(1, min(4096, _CHUNK_BYTES // rowBytes))
        kw = {"compression": "gzip", "compression_opts": 1} if compress else {}
        # HDF5 chunks cannot have a zero side: empty row axes get side 1 and an unlimited maximum
        maxRow = tuple(d if d else None for d in self.rowShape)
        chunkRow = tuple(d or 1 for d in self.rowShape)
        self.ds = group.create_dataset(name, shape=(0, *self.rowShape), maxshape=(None, *maxRow),
                                       dtype=self.dtype, chunks=(chunkRows, *chunkRow), **kw)
        # whole uncompressed chunks of native data go straight to the file, bypassing HDF5's pipeline
        self.direct = oneRow and not compress and sample.dtype != object and sample.nbytes > 0
        self.rowBytes = rowBytes
        self.pendingStart = 0
        self.pending: list[np.ndarray] = []
        self.pendingRows = 0

    def _ensure(self, rows: int) -> None:
        if self.ds.shape[0] < rows:
            # grow geometrically: resizing per train costs a metadata update each time
            self.ds.resize(max(rows, min(2 * self.ds.shape[0], self.ds.shape[0] + 1024)), axis=0)

    def write(self, offset: int, rows: np.ndarray) -> None:
        """Store ``rows`` (leading axis = rows) at row ``offset``."""
        n = rows.shape[0]
        if self.direct:
            self._ensure(offset + n)
            rows = np.ascontiguousarray(rows)
            zeros = (0,) * len(self.rowShape)
            for i in range(n):
                self.ds.id.write_direct_chunk((offset + i, *zeros), rows[i])
            return
        if self.pending and offset != self.pendingStart + self.pendingRows:
            self.flush()
        if not self.pending:
            self.pendingStart = offset
        self.pending.append(rows)
        self.pendingRows += n
        if self.pendingRows * self.rowBytes >= (4 << 20):
            self.flush()

    def flush(self) -> None:
        """Write buffered rows to the dataset."""
        if not self.pending:
            return
        block = self.pending[0] if len(self.pending) == 1 else np.concatenate(self.pending)
        self._ensure(self.pendingStart + self.pendingRows)
        self.ds[self.pendingStart:self.pendingStart + self.pendingRows] = block
        self.pending, self.pendingRows = [], 0

    def finish(self, rows: int) -> None:
        """Flush and cut the dataset to exactly ``rows`` rows."""
        self.flush()
        self.ds.resize(rows, axis=0)


class _ControlSource:
    """A control source: current values and timestamps per key, and its run-start configuration."""

    def __init__(self, name: str, configuration: Hash, schema: Any, classId: str | None, stats: WriterStats):
        self.name = name
        self.schema = schema
        self.current: dict[str, list] = {}      # path -> [array, timestamp ns or None]
        self.run: list[tuple[str, np.ndarray, int | None]] = []
        for path, value, t, attrs in _leaves(configuration):
            arr = None if t == Types.VECTOR_STRING or "/" in path else _leaf_array(value, t)
            if t == Types.VECTOR_STRING and "/" not in path:
                runArr = np.array(list(value) or [""], dtype=object)
            else:
                runArr = arr
            if runArr is None:   # also keys with '/', which HDF5 would take as a group level
                stats.unrecordable += 1
                log.debug("%s: %s (%s) is not recorded", name, path, t.name)
                continue
            ts = _to_ns(attrs)
            self.run.append((path, runArr, ts))
            if arr is not None:
                self.current[path] = [arr, ts]
        if "classId" not in self.current and classId is None and schema is not None:
            classId = schema.getRootName() or None
        if classId is not None and not any(p == "classId" for p, _, _ in self.run):
            self.run.append(("classId", np.array(classId, dtype=object), None))

    def update(self, data: Hash, trainTs: int, stats: WriterStats) -> None:
        """Apply property updates; older updates than the held values are dropped."""
        for path, value, t, attrs in _leaves(data):
            cur = self.current.get(path)
            if cur is None:
                stats.unknownKeys += 1
                log.debug("%s: key %s is not in the configuration, dropped", self.name, path)
                continue
            arr = _leaf_array(value, t)
            if arr is not None and arr.dtype != cur[0].dtype:
                try:
                    arr = arr.astype(cur[0].dtype)
                except (TypeError, ValueError):
                    arr = None
            if arr is None or arr.shape != cur[0].shape:
                stats.mismatched += 1
                log.warning("%s: %s has shape/type %s, recorded as %s: dropped", self.name, path,
                            None if arr is None else arr.shape, cur[0].shape)
                continue
            ts = _to_ns(attrs)
            if ts is not None and cur[1] is not None and ts < cur[1]:
                stats.staleUpdates += 1
                log.debug("%s: update of %s older than the held value, dropped", self.name, path)
                continue
            if ts is None:   # no own timestamp: the train's, but never going backwards
                ts = trainTs if cur[1] is None else max(trainTs, cur[1])
            cur[0], cur[1] = arr, ts


class _InstrumentSource:
    """An instrument source: which index groups hold one row per frame."""

    def __init__(self, name: str, pulseGroups: Iterable[str], schema: Any):
        self.name = name
        self.schema = schema
        self.pulseGroups = set(pulseGroups)
        if schema is not None:
            from pykarabo.access import DaqDataType
            for key in schema.getKeys():
                if schema.hasDaqDataType(key) and schema.getDaqDataType(key) == DaqDataType.PULSE:
                    self.pulseGroups.add(key)


class _Sequence:
    """One open sequence file of an aggregator."""

    def __init__(self, writer: RunWriter, aggregator: str, number: int):
        self.writer = writer
        name = f"{writer.category}-R{writer.run:04d}-{aggregator}-S{number:05d}.h5"
        self.final = writer.directory / name
        self.part = writer.directory / (name + ".part")
        self.aggregator = aggregator
        self.number = number
        self.file = h5py.File(self.part, "w", libver=("earliest", "v110"))
        _holdMetadata(self.file)
        self.trainIds: list[int] = []
        self.timestamps: list[int] = []
        self.counts: dict[str, list[int]] = {}     # index path (source or source/group) -> counts
        self.totals: dict[str, int] = {}           # index path -> rows written
        self.columns: dict[str, _Column] = {}      # HDF5 path -> column
        self.groupColumns: dict[str, list[_Column]] = {}
        self.controlSources: set[str] = set()
        self.nbytes = 0
        self._writeMetadata()
        self.flush()   # a file on disk always has its structure: a crash before the first flush leaves it readable

    def _writeMetadata(self) -> None:
        w = self.writer
        md = self.file.create_group("METADATA")
        md.create_dataset("dataFormatVersion", data=[w.formatVersion], dtype=_ASCII)
        now = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        for key, value in (("creationDate", now), ("updateDate", now), ("daqLibrary", DAQ_LIBRARY),
                           ("karaboFramework", KARABO_FRAMEWORK)):
            md.create_dataset(key, data=[value], dtype=_ASCII, maxshape=(1,))
        for key, value in (("proposalNumber", w.proposal), ("runNumber", w.run), ("sequenceNumber", self.number)):
            md.create_dataset(key, data=[value], dtype=np.uint32)
        self.file.create_group("INDEX")
        self.file.create_group("RUN")

    def addControl(self, src: _ControlSource) -> None:
        """Create the RUN entries of a control source and start its index at count 0."""
        self.controlSources.add(src.name)
        self.counts[src.name] = [0] * len(self.trainIds)
        self.totals[src.name] = 0
        self.file.require_group(f"CONTROL/{src.name}")   # listing keys needs it even before a row
        run = self.file.require_group("RUN").create_group(src.name)
        for path, arr, ts in src.run:
            g = run.create_group(path.replace(".", "/"))
            g.create_dataset("value", data=arr[None], dtype=_STR if arr.dtype == object else arr.dtype)
            g.create_dataset("timestamp", data=np.array([ts or self.writer.startNs], np.uint64))
            self.writer._setAttributes(g, src.schema, path)

    def _column(self, path: str, sample: np.ndarray, compress: bool, indexPath: str,
                schema: Any = None, key: str = "") -> _Column:
        col = self.columns.get(path)
        if col is None:
            parent, name = path.rsplit("/", 1)
            col = self.columns[path] = _Column(self.file.require_group(parent), name, sample, compress)
            self.groupColumns.setdefault(indexPath, []).append(col)
            if schema is not None and not path.endswith("/value") and not path.endswith("/timestamp"):
                self.writer._setAttributes(col.ds, schema, key)
        return col

    def beginTrain(self, trainId: int, timestamp: int) -> None:
        """Open a new train row in the index."""
        self.trainIds.append(trainId)
        self.timestamps.append(timestamp)
        for counts in self.counts.values():
            counts.append(0)

    def writeControl(self, src: _ControlSource, trainTs: int) -> None:
        """One row per key with the current values."""
        row = self.totals[src.name]
        for path, cur in src.current.items():
            if cur[1] is None:
                cur[1] = trainTs
            base = f"CONTROL/{src.name}/{path.replace('.', '/')}"
            col = self.columns.get(base + "/value")
            if col is None:
                col = self._column(base + "/value", cur[0], False, src.name)
                self.writer._setAttributes(self.file[base], src.schema, path)
            col.write(row, cur[0][None])
            self._column(base + "/timestamp", np.uint64(0), False, src.name).write(
                row, np.array([cur[1]], np.uint64))
            self.nbytes += cur[0].nbytes + 8
        self.totals[src.name] = row + 1
        self.counts[src.name][-1] = 1

    def writeGroup(self, src: _InstrumentSource, group: str, leaves: dict[str, np.ndarray], rows: int,
                   stats: WriterStats) -> None:
        """Append ``rows`` rows of one index group (``leaves``: dotted key -> rows array)."""
        indexPath = f"{src.name}/{group}"
        if indexPath not in self.counts:
            self.counts[indexPath] = [0] * len(self.trainIds)
            self.totals[indexPath] = 0
        offset = self.totals[indexPath]
        for key, arr in leaves.items():
            path = f"INSTRUMENT/{indexPath}/{key.replace('.', '/')}"
            # the first row seen in the run fixes dtype and shape for every file of the run
            sample = self.writer._rowSamples.setdefault(path, np.zeros(arr.shape[1:], arr.dtype))
            col = self._column(path, sample, self.writer._compressed(f"{group}.{key}"), indexPath, src.schema,
                               f"{group}.{key}")
            if arr.shape[1:] != col.rowShape:
                stats.mismatched += 1
                log.warning("%s: %s.%s has rows of shape %s, recorded as %s: left as zeros", src.name, group, key,
                            arr.shape[1:], col.rowShape)
                continue
            if rows:
                if col.dtype is _STR or arr.dtype == col.dtype:
                    col.write(offset, arr)
                else:
                    col.write(offset, arr.astype(col.dtype))
            self.nbytes += arr.nbytes
        self.totals[indexPath] = offset + rows
        self.counts[indexPath][-1] += rows

    def flush(self, final: bool = False) -> None:
        """Write buffered data, INDEX and METADATA so that the file on disk is consistent."""
        f = self.file
        for indexPath, cols in self.groupColumns.items():
            for col in cols:
                if final:
                    col.finish(self.totals[indexPath])
                else:
                    col.flush()
        n = len(self.trainIds)
        index = f["INDEX"]
        self._put(index, "trainId", np.array(self.trainIds, np.uint64))
        self._put(index, "timestamp", np.array(self.timestamps, np.uint64))
        self._put(index, "flag", np.ones(n, np.int32))
        if self.writer.formatVersion != "1.0":
            self._put(index, "origin", np.full(n, -1, np.int32))
        for indexPath, counts in self.counts.items():
            c = np.array(counts, np.uint64)
            first = np.cumsum(c) - c
            g = index.require_group(indexPath)
            self._put(g, "first", first)
            self._put(g, "count", c)
        self._writeSources()
        md = f["METADATA"]
        md["updateDate"][0] = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        f.flush()

    @staticmethod
    def _put(group: h5py.Group, name: str, data: np.ndarray) -> None:
        ds = group.get(name)
        if ds is None:
            group.create_dataset(name, data=data, maxshape=(None,), chunks=(max(64, len(data)),))
        else:
            ds.resize(len(data), axis=0)
            ds[:] = data

    def _writeSources(self) -> None:
        rows = sorted(("CONTROL" if p in self.controlSources else "INSTRUMENT", p) for p in self.counts)
        ids = [f"{root}/{p}" for root, p in rows]
        roots = [root for root, _ in rows]
        devs = [p for _, p in rows]
        md = self.file["METADATA"]
        if "dataSources" in md:
            del md["dataSources"]
        ds = md.create_group("dataSources")
        for name, values in (("dataSourceId", ids), ("root", roots), ("deviceId", devs)):
            ds.create_dataset(name, data=values, dtype=_ASCII, shape=(len(values),))

    def close(self, fsync: bool) -> Path:
        """Finish the file and move it to its final name."""
        self.flush(final=True)
        self.file.close()
        if fsync:
            fd = os.open(self.part, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(self.part, self.final)
        if fsync:
            fd = os.open(self.final.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        return self.final

    def abandon(self) -> None:
        """Close the file after an error, leaving the part file behind."""
        try:
            self.file.close()
        except Exception:   # the file is already unusable; the original error is what matters
            log.debug("closing %s after an error failed", self.part, exc_info=True)


class RunWriter:
    """Writes trains of control and instrument data into a run directory ``<directory>/r<run:04d>``."""

    def __init__(self, directory: str | os.PathLike, run: int, *, proposal: int = 0,
                 aggregators: Mapping[str, Iterable[str]] | None = None, default_aggregator: str = "DA01",
                 category: str = "RAW", max_trains: int = 500, max_bytes: int | None = None,
                 format_version: str = "1.3", flush_interval: float | None = 10.0,
                 compress_keys: Iterable[str] = (), fsync: bool = False, run_subdir: bool = True):
        if format_version not in FORMAT_VERSIONS:
            raise DaqError(f"format version must be one of {FORMAT_VERSIONS}, not {format_version!r}")
        if not category.isupper() or not category.isalpha():
            raise DaqError(f"category must be an upper-case word, not {category!r}")
        self.run = int(run)
        self.proposal = int(proposal)
        self.category = category
        self.directory = Path(directory) / f"r{self.run:04d}" if run_subdir else Path(directory)
        self.formatVersion = format_version
        self.maxTrains = max_trains
        self.maxBytes = max_bytes
        self.flushInterval = flush_interval
        self.compressKeys = tuple(compress_keys)
        self.fsync = fsync
        self.defaultAggregator = default_aggregator
        self.aggregatorOf = {s: a for a, ss in (aggregators or {}).items() for s in ss}
        self.stats = WriterStats()
        self.startNs = time.time_ns()
        self.closedFiles: list[Path] = []
        self._control: dict[str, _ControlSource] = {}
        self._instrument: dict[str, _InstrumentSource] = {}
        self._sequences: dict[str, _Sequence] = {}
        self._seqNumbers: dict[str, int] = {}
        self._lastTrain = 0
        self._rowSamples: dict[str, np.ndarray] = {}
        self._lastFlush = time.monotonic()
        self._dirty = False           # trains written since the last flush
        self._failed: BaseException | None = None
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise DaqError(f"cannot create run directory {self.directory}: {e.strerror or e}") from e
        if not os.access(self.directory, os.W_OK | os.X_OK):
            raise DaqError(f"run directory {self.directory} is not writable")
        existing = sorted(self.directory.glob(f"{category}-R{self.run:04d}-*.h5*"))
        if existing:
            raise DaqError(f"run directory {self.directory} already holds files of run {self.run} "
                           f"({existing[0].name}); refusing to overwrite them")

    @property
    def lastTrainId(self) -> int:
        """The last train ID written (0 before the first train)."""
        return self._lastTrain

    @property
    def currentFiles(self) -> list[Path]:
        """Final paths of the sequence files being written (one per active aggregator)."""
        return [seq.final for _, seq in sorted(self._sequences.items())]

    @property
    def failed(self) -> bool:
        """Whether a write failed (the writer then refuses everything but ``close``)."""
        return self._failed is not None

    # -- configuration ----------------------------------------------------------------------

    def add_control_source(self, source: str, configuration: Hash, schema: Any = None,
                           classId: str | None = None) -> None:
        """Register a control (slow) source with its configuration at run start (its RUN values)."""
        self._check()
        if ":" in source or source in self._control:
            raise DaqError(f"{source!r} is an instrument source or already registered")
        self._noteLate(source)
        self._control[source] = _ControlSource(source, configuration, schema, classId, self.stats)

    def add_instrument_source(self, source: str, pulse_groups: Iterable[str] = (), schema: Any = None) -> None:
        """Register an instrument (pipeline) source; ``pulse_groups`` hold one row per frame."""
        self._check()
        if ":" not in source or source in self._instrument:
            raise DaqError(f"instrument source names are DEVICE:channel and unique, not {source!r}")
        self._noteLate(source)
        self._instrument[source] = _InstrumentSource(source, pulse_groups, schema)

    def update_control(self, source: str, changes: Hash, timestamp: int | None = None) -> None:
        """Apply property updates of a registered control source now; they show from the next train on.

        Leaves without ``sec``/``frac`` attributes are stamped with ``timestamp`` (ns, default now).
        """
        self._check()
        src = self._control.get(source)
        if src is None:
            raise DaqError(f"{source!r} is not a registered control source")
        src.update(changes, time.time_ns() if timestamp is None else int(timestamp), self.stats)

    def _noteLate(self, source: str) -> None:
        self.stats.sources.add(source)
        if self.stats.trains:
            self.stats.lateSources += 1
            log.info("source %s appears after %d trains", source, self.stats.trains)

    def _aggregator(self, source: str) -> str:
        return self.aggregatorOf.get(source, self.defaultAggregator)

    def _compressed(self, key: str) -> bool:
        return any(key == k or key.endswith("." + k) for k in self.compressKeys)

    def _setAttributes(self, obj: h5py.HLObject, schema: Any, path: str) -> None:
        if self.formatVersion == "1.0":
            return
        for name, value in _key_attributes(schema, path).items():
            obj.attrs[name] = value

    # -- writing ----------------------------------------------------------------------------

    def write_train(self, trainId: int, timestamp: int | None = None,
                    sources: Mapping[str, Hash | Sequence[Hash]] | None = None) -> bool:
        """Record one train (``timestamp`` in ns since the epoch); False if the train was rejected."""
        self._check()
        trainId = int(trainId)
        if trainId <= self._lastTrain:
            self.stats.rejectedTrains += 1
            log.warning("train %d rejected: not after the last written train %d", trainId, self._lastTrain)
            return False
        timestamp = time.time_ns() if timestamp is None else int(timestamp)
        sources = sources or {}
        for name, data in sources.items():
            if ":" in name:
                if name not in self._instrument:
                    self.add_instrument_source(name)
            elif name not in self._control:
                self.add_control_source(name, data if isinstance(data, Hash) else Hash())
            else:
                self._control[name].update(data, timestamp, self.stats)
        self._lastTrain = trainId
        active = {self._aggregator(s) for s in (*self._control, *self._instrument)}
        for agg in sorted(active):
            seq = self._sequence(agg)
            self._guard(seq, self._writeTrain, seq, agg, trainId, timestamp, sources)
        self.stats.trains += 1
        self._dirty = True
        self.flush_if_due()
        return True

    def _writeTrain(self, seq: _Sequence, agg: str, trainId: int, timestamp: int,
                    sources: Mapping[str, Any]) -> None:
        before = seq.nbytes
        for name, src in self._control.items():
            # added when the file gets its first row of the source, never to a file that gets none
            if name not in seq.controlSources and self._aggregator(name) == agg:
                seq.addControl(src)
        seq.beginTrain(trainId, timestamp)
        for name in seq.controlSources:
            seq.writeControl(self._control[name], timestamp)
        for name, data in sources.items():
            src = self._instrument.get(name)
            if src is None or self._aggregator(name) != agg:
                continue
            items = [data] if isinstance(data, Hash) else list(data)
            for group, (leaves, rows) in self._groups(src, items, trainId).items():
                seq.writeGroup(src, group, leaves, rows, self.stats)
        self.stats.bytes += seq.nbytes - before

    def _groups(self, src: _InstrumentSource, items: list[Hash], trainId: int
                ) -> dict[str, tuple[dict[str, np.ndarray], int]]:
        """Rows per index group of one train's items: {group: ({key: rows array}, n rows)}."""
        parts: dict[str, list[tuple[dict[str, np.ndarray], int]]] = {}
        for item in items:
            byGroup: dict[str, dict[str, np.ndarray]] = {}
            for path, value, t, _ in _leaves(item):
                group, _, key = path.partition(".")
                if not key:
                    group, key = "data", path
                arr = None if "/" in path else _leaf_array(value, t)   # '/' would be an HDF5 group level
                if arr is None:
                    self.stats.unrecordable += 1
                    log.debug("%s: %s (%s) is not recorded", src.name, path, t.name)
                    continue
                byGroup.setdefault(group, {})[key] = arr
            for group, leaves in byGroup.items():
                if group in src.pulseGroups:
                    lengths = {a.shape[0] if a.ndim else -1 for a in leaves.values()}
                    if len(lengths) != 1 or -1 in lengths:
                        self.stats.mismatched += 1
                        log.warning("%s: pulse group %s of train %d has keys of different lengths %s: dropped",
                                    src.name, group, trainId, sorted(lengths))
                        continue
                    n = lengths.pop()
                    rowsOf = dict(leaves)
                else:
                    n = 1
                    rowsOf = {k: a[None] for k, a in leaves.items()}
                if "trainId" not in rowsOf:
                    rowsOf["trainId"] = np.full(n, trainId, np.uint64)
                parts.setdefault(group, []).append((rowsOf, n))
        out = {}
        for group, chunks in parts.items():
            if len(chunks) == 1:
                out[group] = chunks[0]
                continue
            keys = [k for k in chunks[0][0] if all(k in c for c, _ in chunks)]
            try:
                out[group] = ({k: np.concatenate([c[k] for c, _ in chunks]) for k in keys},
                              sum(n for _, n in chunks))
            except ValueError:
                self.stats.mismatched += 1
                log.warning("%s: items of group %s in train %d differ in shape: dropped", src.name, group, trainId)
        return out

    def _sequence(self, agg: str) -> _Sequence:
        """The open sequence file of an aggregator, rolled over when full."""
        seq = self._sequences.get(agg)
        if seq is not None and (len(seq.trainIds) >= self.maxTrains
                                or (self.maxBytes is not None and seq.nbytes >= self.maxBytes)):
            self._closeSequence(agg)
            seq = None
        if seq is None:
            number = self._seqNumbers.get(agg, 0)
            try:
                seq = _Sequence(self, agg, number)
            except OSError as e:
                self._failed = e
                raise DaqError(f"cannot create sequence file {agg} S{number:05d} in {self.directory}: {e}") from e
            self._seqNumbers[agg] = number + 1
            self._sequences[agg] = seq
            self.stats.files += 1
        return seq

    def _closeSequence(self, agg: str) -> None:
        seq = self._sequences.pop(agg)
        self.closedFiles.append(self._guard(seq, seq.close, self.fsync))
        log.info("closed %s (%d trains)", seq.final.name, len(seq.trainIds))

    def _guard(self, seq: _Sequence, fn: Any, *args: Any) -> Any:
        """Run a file operation; on an OS error abandon the file and fail the writer clearly."""
        try:
            return fn(*args)
        except (OSError, RuntimeError) as e:
            self._failed = e
            seq.abandon()
            self._sequences.pop(seq.aggregator, None)
            reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            raise DaqError(f"writing {seq.part} failed ({reason}); it is left as a part file, "
                           f"closed files are intact") from e

    def _check(self) -> None:
        if self._failed is not None:
            raise DaqError(f"the writer failed earlier: {self._failed}")

    def flush(self) -> None:
        """Make every open part file consistent on disk (data, INDEX and METADATA so far)."""
        self._check()
        for seq in list(self._sequences.values()):
            self._guard(seq, seq.flush)
        self._lastFlush = time.monotonic()
        self._dirty = False

    def flush_if_due(self) -> bool:
        """Flush if trains were written and ``flush_interval`` passed since the last flush.

        Called after every train; a writer whose input stalls calls it periodically, so that a
        crash loses at most ``flush_interval`` seconds of acknowledged trains.
        """
        if (self._dirty and self.flushInterval is not None
                and time.monotonic() - self._lastFlush >= self.flushInterval):
            self.flush()
            return True
        return False

    def close(self) -> list[Path]:
        """Finish all sequence files; returns the paths of every file of the run."""
        if self._failed is None:
            for agg in sorted(self._sequences):
                self._closeSequence(agg)
        else:
            for seq in self._sequences.values():
                seq.abandon()
            self._sequences.clear()
        return list(self.closedFiles)

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def recover_run(directory: str | os.PathLike) -> tuple[list[Path], list[Path]]:
    """Turn consistent part files of a killed writer into run files; returns (recovered, left out)."""
    recovered, left = [], []
    for part in sorted(Path(directory).glob("*.h5.part")):
        try:
            with h5py.File(part, "r+") as f:
                n = len(f["INDEX/trainId"])
                if n == 0:
                    raise ValueError("no train was flushed to it")
                _check_index(f, n)
                f["METADATA/updateDate"][0] = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        except (OSError, KeyError, ValueError) as e:
            log.warning("part file %s left out: %s", part.name, e)
            left.append(part)
            continue
        final = part.with_name(part.name[:-len(".part")])
        os.replace(part, final)
        log.info("recovered %s (%d trains)", final.name, n)
        recovered.append(final)
    return recovered, left


def _check_index(f: h5py.File, n: int) -> None:
    """Raise ValueError unless every listed source has n index rows referring to existing data."""
    sources = f["METADATA/dataSources"]
    for root, indexPath in zip(sources["root"].asstr()[()], sources["deviceId"].asstr()[()]):
        first, count = f[f"INDEX/{indexPath}/first"][()], f[f"INDEX/{indexPath}/count"][()]
        if len(first) != n or len(count) != n:
            raise ValueError(f"index of {indexPath} has {len(first)} entries for {n} trains")
        end = int((first + count).max()) if n else 0
        if any(length < end for length in _dataset_lengths(f[f"{root}/{indexPath}"])):
            raise ValueError(f"index of {indexPath} refers past its data")


def _dataset_lengths(group: h5py.Group) -> list[int]:
    """First dimension of every dataset below ``group``."""
    lengths: list[int] = []
    group.visititems(lambda _, o: lengths.append(o.shape[0]) if isinstance(o, h5py.Dataset) else None)
    return lengths
