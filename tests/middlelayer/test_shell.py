"""``pykarabo shell``: the console preloads the scripting functions and talks to devices on the bus."""

import asyncio
import os
import rlcompleter
import subprocess
import sys
from pathlib import Path

import pytest

from examples.motor import SimulatedMotor
from pykarabo.cli.shell import InstanceIds, _quotedPrefix, configureIPython, formatProxy, namespace
from pykarabo.middlelayer import connectDevice
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
        'p',                                          # the console prints the proxy readably
        'getConfiguration("TEST/MDL/1")',             # and Hashes as Hashes
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
        out = result.stdout
        assert "<TEST/MDL/1: Hello in state ON>" in out and "  greeting: 'hello'" in out, out
        assert "  heartbeatInterval: 120 s" in out and "  log:\n    level: 'INFO'" in out and "  stop()" in out
        assert "=> TEST/MDL/1 STRING" in out and "'counter'" in out
    bus.run(test, timeout=60)


def test_proxies_print_with_units_and_complete_their_properties(bus):
    async def test():
        await bus.start(SimulatedMotor({"deviceId": "SHELL/MOTOR/1"}))
        motor = await connectDevice("SHELL/MOTOR/1")
        text = formatProxy(motor)
        assert text.splitlines()[0] == "<SHELL/MOTOR/1: SimulatedMotor in state ON>"
        assert "  targetPosition: 0.0 m" in text and "  velocity: 2.0 m/s" in text and "  move()" in text
        completer = rlcompleter.Completer({"p": motor})
        assert completer.complete("p.targ", 0) == "p.targetPosition"
        assert completer.complete("p.log.le", 0) == "p.log.level"
        assert completer.complete("p.mo", 0) == "p.move("           # slots complete as calls
        ids = InstanceIds(maxAge=0)
        assert await asyncio.to_thread(ids.matching, "SHELL/") == ["SHELL/MOTOR/1"]
    bus.run(test)


def test_ipython_completes_device_ids_and_properties_and_prints_proxies(bus):
    IPython = pytest.importorskip("IPython", reason="the IPython shell needs pip install pykarabo[shell]")
    from IPython.core.interactiveshell import InteractiveShell

    def complete():
        shell = InteractiveShell(user_ns=namespace())
        configureIPython(shell, InstanceIds(maxAge=0))
        shell.user_ns["p"] = connectDevice("SHELL/MOTOR/2")
        _, properties = shell.complete(None, "p.targ")
        line = 'p = connectDevice("SHELL/MO'
        _, ids = shell.complete(None, line, len(line))
        printed = shell.display_formatter.format(shell.user_ns["p"])[0]["text/plain"]
        return properties, ids, printed

    async def test():
        await bus.start(SimulatedMotor({"deviceId": "SHELL/MOTOR/2"}))
        properties, ids, printed = await asyncio.to_thread(complete)
        assert any(p.endswith(".targetPosition") for p in properties) and ids == ["SHELL/MOTOR/2"], (properties, ids)
        assert printed.startswith("<SHELL/MOTOR/2: SimulatedMotor in state ON>") and "position: 0.0 m" in printed
    assert IPython.version_info >= (8,)
    bus.run(test)
