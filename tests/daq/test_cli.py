"""``pykarabo daq record``: pipeline outputs recorded into a valid run directory."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from pykarabo import Hash
from pykarabo.cli import main
from pykarabo.pipeline import OutputChannel

from .conftest import validate

extra_data = pytest.importorskip("extra_data", reason="runs are read back with extra-data (test extra)")


def _send(out: OutputChannel, source: str, n: int, start: threading.Barrier | None = None) -> None:
    out.waitForInputs(1, timeout=10)
    if start is not None:   # both outputs start together: the recorder keeps a window of 10 trains
        start.wait(10)
    for i in range(n):
        tid = 5000 + i
        frames = np.full((i % 3, 4, 6), i, np.uint16)
        out.write(Hash("image.data", frames, "data.value", float(i)), source=source,
                  timestamp=(1_700_000_000 + i, 0, tid))
        out.update(timeout=10)
    out.signalEndOfStream(timeout=10)


def test_record_until_end_of_stream(tmp_path, capsys):
    with OutputChannel(port=0) as a, OutputChannel(port=0) as b:
        start = threading.Barrier(2)
        threads = [threading.Thread(target=_send, args=(a, "SPB_DET/DET/0CH0:xtdf", 7, start)),
                   threading.Thread(target=_send, args=(b, "SPB_XTD9/XGM/DOOCS", 7, start))]
        for t in threads:
            t.start()
        rc = main(["daq", "record", "--connect", f"127.0.0.1:{a.port},127.0.0.1:{b.port}", "--out", str(tmp_path),
                   "--run", "3", "--max-trains", "4", "--json", "--timeout", "20"])
        for t in threads:
            t.join(10)
    assert rc == 0
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])["summary"]
    assert summary["trains"] == 7 and summary["items"] == 14
    run_dir = tmp_path / "r0003"
    validate(run_dir)
    run = extra_data.RunDirectory(run_dir)
    assert list(run.train_ids) == list(range(5000, 5007))
    assert set(run.instrument_sources) == {"SPB_DET/DET/0CH0:xtdf", "SPB_XTD9/XGM/DOOCS:output"}
    det = run["SPB_DET/DET/0CH0:xtdf", "image.data"]
    assert det.data_counts().tolist() == [i % 3 for i in range(7)]
    assert det.ndarray()[:, 0, 0].tolist() == [i for i in range(7) for _ in range(i % 3)]
    assert run["SPB_XTD9/XGM/DOOCS:output", "data.value"].ndarray().tolist() == [float(i) for i in range(7)]
    assert run.train_timestamps()[1] == np.datetime64(1_700_000_001, "s")


def test_record_trains_limit_and_bad_directory(tmp_path, capsys):
    with OutputChannel(port=0) as a:
        t = threading.Thread(target=_send, args=(a, "A/B/C:out", 6))
        t.start()
        rc = main(["daq", "record", "--connect", f"127.0.0.1:{a.port}", "--out", str(tmp_path), "--trains", "3",
                   "--timeout", "20", "--max-wait", "0.5", "--flush-interval", "1"])
        t.join(15)
    assert rc == 0
    out = capsys.readouterr()
    assert "recorded 3 trains" in out.out and "0 dropped, 0 incomplete" in out.out
    assert "recording" in out.err and "3 trains ·" in out.err    # the progress display (rich, on stderr)
    validate(tmp_path / "r0001")
    assert main(["daq", "record", "--connect", "127.0.0.1:1", "--out", str(tmp_path)]) == 2   # run exists
    assert "refusing" in capsys.readouterr().err
