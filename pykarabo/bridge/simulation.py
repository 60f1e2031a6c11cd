"""Simulated detector trains shaped like the reference simulator's (AGIPD, AGIPD module, LPD).

Random data are generated once (``pregenerate`` distinct trains, reused in turn) so serving is not
limited by the random number generator; only the train ID array and the metadata change per train.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from pykarabo_bridge.serializer import dummy_timestamp

__all__ = ["DETECTORS", "FIRST_TRAIN_ID", "Simulator", "serve_simulation"]

log = logging.getLogger(__name__)

FIRST_TRAIN_ID = 10_000_000_000


@dataclass(frozen=True)
class _Detector:
    domain: str       # source name up to the device part
    pulses: int
    module_shape: tuple[int, int]   # (y, x) = (fs, ss)
    modules: int


DETECTORS = {
    "AGIPD": _Detector("SPB_DET_AGIPD1M-1", 64, (128, 512), 16),
    "AGIPDModule": _Detector("SPB_DET_AGIPD1M-1", 64, (128, 512), 1),
    "LPD": _Detector("FXE_DET_LPD1M-1", 300, (256, 256), 16),
}


class Simulator:
    """Generate bridge trains ``(data, metadata)`` of a simulated detector."""

    def __init__(self, detector: str = "AGIPD", raw: bool = False, nsources: int = 1, datagen: str = "random",
                 data_like: str = "online", pregenerate: int = 2, first_train_id: int = FIRST_TRAIN_ID,
                 seed: int | None = None) -> None:
        if detector not in DETECTORS:
            raise ValueError(f"unknown detector {detector!r}, use one of {sorted(DETECTORS)}")
        if detector == "AGIPDModule" and not raw:
            raise NotImplementedError("AGIPDModule only exists as raw data (use raw=True)")
        if datagen not in ("random", "zeros"):
            raise ValueError("datagen must be 'random' or 'zeros'")
        if data_like not in ("online", "file"):
            raise ValueError("data_like must be 'online' or 'file'")
        spec = DETECTORS[detector]
        self.detector = detector
        self.raw = raw
        self.train_id = first_train_id
        if spec.modules == 1:
            name = f"{spec.domain}/DET/0CH0:xtdf"
        else:
            name = f"{spec.domain}/CAL/APPEND_{'RAW' if raw else 'CORRECTED'}"
        self.sources = [name] if nsources == 1 else [f"{name}-{i}" for i in range(1, nsources + 1)]
        # LPD has no file-like variant in the reference simulator.
        file_like = data_like == "file" and detector != "LPD"
        rng = np.random.default_rng(seed)
        count = 1 if datagen == "zeros" else max(1, pregenerate)
        self._bodies = [self._body(spec, name, raw, file_like, datagen, rng) for _ in range(count)]

    @staticmethod
    def _body(spec: _Detector, name: str, raw: bool, file_like: bool, datagen: str,
              rng: np.random.Generator) -> dict[str, Any]:
        """One source's constant part (everything but the train ID array)."""
        y, x = spec.module_shape
        p = spec.pulses
        if spec.modules == 1:
            shape = (p, x, y) if file_like else (y, x, p)
        else:
            shape = (p, spec.modules, x, y) if file_like else (spec.modules, y, x, p)
        dtype = np.uint16 if raw else np.float32
        if datagen == "zeros":
            image = np.zeros(shape, dtype)
        elif raw:
            image = rng.integers(1500, 1600, size=shape, dtype=dtype)
        else:
            image = rng.random(size=shape, dtype=dtype)
            image *= 100
            image += 1500
        # Key order as the reference: passport and module lists sit between cellId and gain.
        body: dict[str, Any] = {"image.data": image, "image.cellId": np.arange(p, dtype=np.uint16)}
        if not raw:
            body["image.passport"] = [f"{spec.domain}/CAL/{step}_Q1M1"
                                      for step in ("THRESHOLDING", "OFFSET_CORR", "RELGAIN_CORR")]
        if spec.modules > 1:
            prefix = name.rpartition("/")[0]
            body["sources"] = [f"{prefix}/{i}CH0:xtdf" for i in range(spec.modules)]
            body["modulesPresent"] = [True] * spec.modules
        body["image.gain"] = np.zeros((y, x, p), np.uint16)
        body["image.pulseId"] = np.arange(p, dtype=np.uint64)
        body["image.trainId"] = None   # a fresh array per train
        return body

    @property
    def train_nbytes(self) -> int:
        """Array bytes per train (all sources)."""
        per_source = sum(v.nbytes for v in self._bodies[0].values() if isinstance(v, np.ndarray))
        return len(self.sources) * (per_source + 8 * len(self._bodies[0]["image.cellId"]))

    def next_train(self) -> tuple[dict[str, dict], dict[str, dict]]:
        """The next train: the bodies in turn, a fresh train ID array and wall-clock metadata."""
        tid = self.train_id
        self.train_id += 1
        body = self._bodies[tid % len(self._bodies)]
        train_ids = np.full(len(body["image.cellId"]), tid, np.uint64)
        stamp = dummy_timestamp()
        data: dict[str, dict] = {}
        metadata: dict[str, dict] = {}
        for source in self.sources:
            props = dict(body)
            props["image.trainId"] = train_ids
            data[source] = props
            metadata[source] = {"source": source, "timestamp": stamp["timestamp"], "timestamp.tid": tid,
                                "timestamp.sec": stamp["timestamp.sec"], "timestamp.frac": stamp["timestamp.frac"]}
        return data, metadata

    def __iter__(self) -> Iterator[tuple[dict[str, dict], dict[str, dict]]]:
        while True:
            yield self.next_train()


def serve_simulation(server: Any, simulator: Simulator, ntrains: int | None = None, report_every: int = 50,
                     report: Callable[[int, float], None] | None = None,
                     each: Callable[[int], None] | None = None, rate: float = 0.0) -> int:
    """Feed ``server`` with simulated trains, waiting for room so REP/PUSH get every ID; returns the count.

    ``rate`` limits trains per second (0: as fast as the server takes them; PUB takes all).
    ``report(n, seconds)`` is called every ``report_every`` trains, ``each(train_id)`` per train.
    """
    n = 0
    t_start = t_prev = time.perf_counter()
    while ntrains is None or n < ntrains:
        if rate > 0:
            time.sleep(max(0.0, t_start + n / rate - time.perf_counter()))
        tid = simulator.train_id
        server.put(*simulator.next_train(), block=True)
        n += 1
        if each is not None:
            each(tid)
        if report is not None and n % report_every == 0:
            now = time.perf_counter()
            report(report_every, now - t_prev)
            t_prev = now
    return n
