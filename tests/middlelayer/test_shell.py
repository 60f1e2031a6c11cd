"""``pykarabo shell``: the console preloads the scripting functions and talks to devices on the bus."""

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from pykarabo.cli.shell import _quotedPrefix, namespace
from tests.middlelayer.test_device import Hello

REPO = Path(__file__).resolve().parents[2]


def test_namespace_and_completion_helpers():
    ns = namespace()
    for name in ("connectDevice", "getDevice", "setWait", "execute", "waitUntil", "instantiate", "Hash", "State"):
        assert name in ns
    assert _quotedPrefix('connectDevice("SIM/MO') == "SIM/MO"
    assert _quotedPrefix("p = getDevice('A") == "A"
    assert _quotedPrefix('connectDevice("SIM/MOTOR/1").sta') is None


def test_shell_controls_a_device(bus):
    script = "\n".join([
        'print("IDS", [d for d in getDevices() if d.startswith("TEST/")])',
        'p = connectDevice("TEST/MDL/1")',
        'p.start()',
        'waitUntil(lambda: p.state == State.ON, timeout=5)',
        'print("STATE", p.state, p.counter)',
    ]) + "\n"

    def shell():
        return subprocess.run([sys.executable, "-m", "pykarabo", "shell", "--plain", "--broker", bus.url,
                               "--topic", bus.topic], input=script, capture_output=True, text=True, timeout=60,
                              cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)))

    async def test():
        await bus.start(Hello({"deviceId": "TEST/MDL/1"}))
        result = await asyncio.to_thread(shell)
        assert result.returncode == 0, result.stderr
        assert "IDS ['TEST/MDL/1']" in result.stdout and "STATE ON 1" in result.stdout, result.stdout + result.stderr
        assert "pykarabo shell on" in result.stderr
    bus.run(test, timeout=60)
