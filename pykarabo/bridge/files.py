"""Stream a European XFEL run (HDF5 files read with EXtra-data, an optional dependency) as bridge trains."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from pykarabo.bridge.server import BridgeServer

__all__ = ["append_detector_modules", "file_trains", "serve_files"]

log = logging.getLogger(__name__)

_MODULE_SOURCE = re.compile(r"^(?P<detector>.+)/DET/(?P<module>\d+)CH0:xtdf$")
_STACKED_KEYS = ("image.data", "image.gain", "image.mask")


def _open(path: str | Path) -> Any:
    """A DataCollection of a run directory or a single file."""
    try:
        import extra_data
    except ImportError as exc:
        raise RuntimeError("serving files needs EXtra-data: pip install extra-data") from exc
    path = Path(path)
    return extra_data.RunDirectory(str(path)) if path.is_dir() else extra_data.H5File(str(path))


def _bridge_values(props: dict[str, Any]) -> dict[str, Any]:
    """Drop what the bridge cannot carry: object (string) arrays, with their '.timestamp' partner."""
    dropped = {k for k, v in props.items() if isinstance(v, np.ndarray) and v.dtype.kind == "O"}
    dropped |= {k[:-len("value")] + "timestamp" for k in dropped if k.endswith(".value")}
    return {k: v for k, v in props.items() if k not in dropped}


def append_detector_modules(data: dict[str, dict]) -> dict[str, dict]:
    """Merge XTDF module sources ``<DET>/DET/<n>CH0:xtdf`` into one ``<DET>/DET/APPEND`` source.

    Image arrays are stacked with the module axis third from last (file layout); other keys are
    taken from the lowest module.  Modules whose shapes disagree are left unmerged.
    """
    groups: dict[str, list[tuple[int, str]]] = {}
    for source in data:
        match = _MODULE_SOURCE.match(source)
        if match:
            groups.setdefault(match["detector"], []).append((int(match["module"]), source))
    out = {s: v for s, v in data.items() if not _MODULE_SOURCE.match(s)}
    for detector, modules in groups.items():
        sources = [s for _, s in sorted(modules)]
        merged = {k: v for k, v in data[sources[0]].items()}
        try:
            for key in _STACKED_KEYS:
                parts = [data[s][key] for s in sources if key in data[s]]
                if parts:
                    merged[key] = np.stack(parts, axis=-3 if parts[0].ndim >= 2 else 0)
        except ValueError as exc:
            log.warning("cannot merge the modules of %s (%s); sending them separately", detector, exc)
            out.update((s, data[s]) for s in sources)
            continue
        name = f"{detector}/DET/APPEND"
        merged["metadata"] = {**merged.get("metadata", {}), "source": name}
        out[name] = merged
    return out


def file_trains(path: str | Path, source_glob: str = "*", key_glob: str = "*",
                merge_modules: bool = False) -> tuple[int, Iterator[tuple[int, dict[str, dict]]]]:
    """The number of trains and an iterator of ``(train ID, {source: {key: value}})`` from files."""
    run = _open(path).select(source_glob, key_glob)

    def trains() -> Iterator[tuple[int, dict[str, dict]]]:
        for tid, data in run.trains():
            if not data:
                continue
            train = {source: _bridge_values(props) for source, props in data.items()}
            yield tid, append_detector_modules(train) if merge_modules else train

    return len(run.train_ids), trains()


def serve_files(path: str | Path, server: BridgeServer, source_glob: str = "*", key_glob: str = "*",
                merge_modules: bool = False, progress: Callable[[int, int, int], None] | None = None) -> int:
    """Put every train of a run into ``server`` (waiting for room, so none is dropped); returns the count."""
    total, trains = file_trains(path, source_glob, key_glob, merge_modules)
    n = 0
    for tid, train in trains:
        # EXtra-data puts each source's metadata into its data dict; the serializer uses it.
        server.put(train, None, block=True)
        n += 1
        if progress is not None:
            progress(n, total, tid)
    return n
