"""``pykarabo pipe send`` / ``pykarabo pipe recv`` in-process, on a free 127.0.0.1 port."""

import json
import socket
import threading
import zlib

import pytest

from pykarabo.cli import main
from pykarabo.cli.pipe import payload


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_send_recv_json(capsys):
    port = free_port()
    rc = {}
    sender = threading.Thread(target=lambda: rc.setdefault("send", main(
        ["pipe", "send", "--port", str(port), "--n", "4", "--shape", "8,4", "--dtype", "uint16",
         "--sources", "S1,S2", "--timeout", "10"])))
    sender.start()
    assert main(["pipe", "recv", f"127.0.0.1:{port}", "--json", "--timeout", "10"]) == 0
    sender.join(10)
    assert rc["send"] == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    items = [x for x in lines if "source" in x]
    assert [(x["source"], x["trainId"]) for x in items] == [(s, t) for t in range(1000, 1004) for s in ("S1", "S2")]
    assert all(x["crc32"] == zlib.crc32(payload(x["trainId"], (8, 4), "uint16").tobytes()) for x in items)
    summary = [x["summary"] for x in lines if "summary" in x and "items" in x["summary"] and "sources" in x["summary"]]
    assert summary[0]["items"] == 8 and summary[0]["endOfStream"]


@pytest.mark.parametrize("argv, message", [
    (["recv", "nohost"], "expected HOST:PORT"),
    (["send", "--shape", "4,x"], "positive integers separated by commas"),
    (["send", "--shape", "4,0"], "positive integers separated by commas"),
    (["send", "--dtype", "nonsense"], "numeric numpy dtype"),
    (["send", "--n", "-1"], "must be at least 0"),
    (["send", "--rate", "fast"], "expected a number"),
    (["recv", "h:1", "--on-slowness", "queue"], "invalid choice"),
    (["recv", "h:1", "--max-queue-length", "-2"], "must be at least 0"),
])
def test_bad_arguments_are_refused_clearly(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        main(["pipe", *argv])
    assert e.value.code == 2
    assert message in capsys.readouterr().err
