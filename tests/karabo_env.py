"""Where the real Karabo 3 (karabo-native, karabo-cpp; Python 3.12 only) lives for interop tests."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.polling import pollUntil

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


def karaboHome(root: Path, group: str, module: str, classes: list[str]) -> Path:
    """A ``$KARABO`` folder for a real Karabo server, with a ``site`` folder (to put on PYTHONPATH)
    whose dist-info registers ``module:<class>`` for each of ``classes`` in the entry-point ``group``."""
    (root / "var" / "data").mkdir(parents=True)   # Karabo's servers change into $KARABO/var/data
    dist = root / "site" / f"{module}-0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module.replace('_', '-')}\nVersion: 0\n")
    (dist / "entry_points.txt").write_text(f"[{group}]\n" + "".join(f"{name} = {module}:{name}\n" for name in classes))
    return root


@contextlib.contextmanager
def brokerPeer(python: str, script: Path, mode: str, brokerUrl: str, topic: str) -> Iterator[PeerProcess]:
    """A :class:`PeerProcess` running ``script mode`` as a Karabo client on ``brokerUrl``/``topic``;
    killed at the end if it does not stop by itself."""
    peer = PeerProcess(python, script, mode, env=dict(os.environ, KARABO_BROKER=brokerUrl, KARABO_BROKER_TOPIC=topic))
    try:
        yield peer
    finally:
        try:
            peer.close()
        except subprocess.TimeoutExpired:
            peer.proc.kill()
            peer.proc.wait()


@contextlib.contextmanager
def serverProcess(command: list[str], logDir: Path, env: dict, ready: Callable[[], bool], timeout: float,
                  cwd: Path | None = None) -> Iterator[subprocess.Popen]:
    """A device server process (Karabo's or ours) logging to ``logDir/server.log``; fails the test
    with the log's end unless ``ready()`` holds within ``timeout`` s.  Stopped by SIGTERM, then its
    whole session (a bound server's device processes too) by SIGKILL if anything lingers."""
    with open(logDir / "server.log", "w+") as log:
        proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            if not pollUntil(ready, timeout):
                log.seek(0)
                pytest.fail(f"{command[:4]}... not ready within {timeout} s: {log.read()[-3000:]}")
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    pass
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
