"""Where the real Karabo 3 (karabo-native, karabo-cpp; Python 3.12 only) lives for interop tests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def karabo_python() -> str | None:
    """The interpreter of the Karabo venv: $PYKARABO_KARABO_PYTHON, else a known venv, else None."""
    env = os.environ.get("PYKARABO_KARABO_PYTHON")
    if env:
        return env if shutil.which(env) or Path(env).exists() else None
    for candidate in (REPO / ".venv-karabo" / "bin" / "python", Path("/work/kvenv312/bin/python")):
        if candidate.exists():
            return str(candidate)
    return None


def require_karabo_python() -> str:
    """The Karabo interpreter, or skip the calling test/fixture with the reason."""
    python = karabo_python()
    if python is None:
        pytest.skip("real Karabo not installed: set PYKARABO_KARABO_PYTHON to a Python 3.12 with "
                    "karabo-native and karabo-cpp (.ci/run creates one)")
    return python


class PeerProcess:
    """A helper script run by the Karabo interpreter, spoken to in JSON lines over stdin/stdout.

    The script first prints ``{"ready": [capabilities]}``; then each request line gets one reply
    line, ``{"error": "..."}`` when Karabo failed.
    """

    def __init__(self, python: str, script: Path, *args: str, env: dict | None = None):
        self.proc = subprocess.Popen([python, str(script), *args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env)
        first = self.proc.stdout.readline()
        if not first:
            raise RuntimeError(f"{Path(script).name} exited with {self.proc.wait()} before it was ready")
        self.caps = set(json.loads(first)["ready"])

    def ask(self, **request) -> dict:
        """One request; RuntimeError with Karabo's message if the peer failed."""
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        reply = json.loads(self.proc.stdout.readline())
        if "error" in reply:
            raise RuntimeError(reply["error"])
        return reply

    def close(self) -> None:
        """Stop the peer."""
        self.proc.stdin.close()
        self.proc.wait(timeout=10)
