"""A real Karabo 3 peer process for interop tests (skipped with a reason when not installed)."""

import base64
import json
import subprocess
from pathlib import Path

import pytest

from tests.karabo_env import karabo_python


class KaraboPeer:
    """Asks the real Karabo (C++ via karabind, or karabo.native) to decode and re-encode bytes."""

    def __init__(self, python: str):
        self.proc = subprocess.Popen(
            [python, str(Path(__file__).with_name("karabo_peer.py"))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.impls = set(json.loads(self.proc.stdout.readline())["ready"])

    def roundtrip(self, impl: str, data: bytes) -> bytes:
        """Karabo's ``save(load(data))``; raises RuntimeError with Karabo's message on failure."""
        self.proc.stdin.write(json.dumps({"impl": impl, "data": base64.b64encode(data).decode()}) + "\n")
        self.proc.stdin.flush()
        reply = json.loads(self.proc.stdout.readline())
        if "error" in reply:
            raise RuntimeError(reply["error"])
        return base64.b64decode(reply["data"])

    def close(self):
        """Stop the peer."""
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


@pytest.fixture(scope="session")
def karabo_peer():
    """The running peer; skips when no Python 3.12 venv with Karabo's wheels exists."""
    python = karabo_python()
    if python is None:
        pytest.skip("real Karabo not installed: set PYKARABO_KARABO_PYTHON to a Python 3.12 with "
                    "karabo-native and karabo-cpp (.ci/run creates one)")
    peer = KaraboPeer(python)
    if not peer.impls:
        peer.close()
        pytest.skip(f"{python} has neither karabind (karabo-cpp) nor karabo.native")
    yield peer
    peer.close()


def require(peer: KaraboPeer, impl: str):
    """Skip unless the peer offers ``impl``."""
    if impl not in peer.impls:
        pytest.skip(f"the Karabo venv lacks {'karabo-cpp' if impl == 'cpp' else 'karabo-native'}")
