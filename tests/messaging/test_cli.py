"""``pykarabo broker serve`` and ``pykarabo broker topology`` in-process on free loopback ports."""

import json

from pykarabo import Hash
from pykarabo.cli import main
from pykarabo.net.broker.threads import ThreadedSignalSlotable

from pykarabo.net.broker.embedded import privateEmbeddedUrl

from .test_embedded import T


def test_serve_and_topology(capsys):
    url = privateEmbeddedUrl()
    assert main(["broker", "serve", "--url", url, "--duration", "0.2"]) == 0
    dev = ThreadedSignalSlotable("SA1/DEV/1", Hash("type", "device", "classId", "Motor"), broker=url, topic="t")
    try:
        dev.start(timeout=T, pingTimeout=0.2)
        assert dev.backend.broker is not None   # the served broker has gone: the device hosts it now
        assert main(["broker", "serve", "--url", url, "--duration", "0.1"]) == 1   # already hosted
        assert main(["broker", "topology", "--url", url, "--topic", "t", "--wait", "0.5"]) == 0
    finally:
        dev.stop()
    captured = capsys.readouterr()
    assert "Address already in use" in captured.err
    lines = [json.loads(x) for x in captured.out.splitlines() if x.startswith("{")]
    assert {"instanceId": "SA1/DEV/1", "type": "device", "classId": "Motor", "heartbeatInterval": 20} in lines
