"""``pykarabo demo --broker amqp://...``: the same demo with server, devices and client on RabbitMQ."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.messaging.conftest import rabbitmq  # noqa: F401 (the session's private RabbitMQ)

pytest.importorskip("extra_data", reason="the demo validates its run with extra_data")


@pytest.mark.slow
def test_demo_on_rabbitmq(rabbitmq, tmp_path):  # noqa: F811
    command = [sys.executable, "-m", "pykarabo", "demo", "--seconds", "15", "--modules", "2", "--pulses", "8",
               "--directory", str(tmp_path / "out"), "--broker", rabbitmq.url, "--topic", f"demoamqp{os.getpid()}"]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=180)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert rabbitmq.url not in out + result.stderr, "credentials are never printed"
    received = re.search(r"the demo's client received (\d+) trains", out)
    assert received and int(received.group(1)) > 0, out
    written = re.search(r"Run directory: \S+ \((\d+) trains written\)", out)
    assert written and int(written.group(1)) > 0, out
    assert "Validation: ok" in out
