"""The real Karabo 3 schema peer (``schema_peer.py``); interop tests skip with a reason without it."""

import base64
import json
import subprocess
from pathlib import Path

import pytest

from pykarabo import Hash, encodeBinary
from tests.karabo_env import karabo_python


class SchemaPeer:
    """Builds reference Schemas with real Karabo and validates configurations with karabind."""

    def __init__(self, python: str):
        self.proc = subprocess.Popen(
            [python, str(Path(__file__).with_name("schema_peer.py"))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.caps = set(json.loads(self.proc.stdout.readline())["ready"])

    def ask(self, **request) -> dict:
        """One request; RuntimeError with Karabo's message if the peer failed."""
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        reply = json.loads(self.proc.stdout.readline())
        if "error" in reply:
            raise RuntimeError(reply["error"])
        return reply

    def schema_bytes(self, api: str) -> bytes:
        """``encodeBinary(Hash("s", schema))`` of the peer's reference device Schema."""
        return base64.b64decode(self.ask(op="schema", api=api)["data"])

    def validate(self, schema_bytes: bytes, config: Hash, rules: dict) -> dict:
        """karabind's Validator verdict: ok, message, result (bytes or None)."""
        reply = self.ask(op="validate", schema=base64.b64encode(schema_bytes).decode(),
                         config=base64.b64encode(encodeBinary(config)).decode(), rules=rules)
        if reply["result"] is not None:
            reply["result"] = base64.b64decode(reply["result"])
        return reply

    def read(self, schema_bytes: bytes) -> dict:
        """What karabind's Schema reports about the Schema in ``schema_bytes``."""
        reply = self.ask(op="read", schema=base64.b64encode(schema_bytes).decode())
        reply["roundtrip"] = base64.b64decode(reply["roundtrip"])
        return reply

    def close(self):
        """Stop the peer."""
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


@pytest.fixture(scope="session")
def schema_peer():
    """The running peer; skips when no Python 3.12 venv with karabo-native and karabo-cpp exists."""
    python = karabo_python()
    if python is None:
        pytest.skip("real Karabo not installed: set PYKARABO_KARABO_PYTHON to a Python 3.12 with "
                    "karabo-native and karabo-cpp")
    peer = SchemaPeer(python)
    if not {"cpp", "native"} <= peer.caps:
        peer.close()
        pytest.skip(f"{python} lacks karabo-cpp or karabo-native (has {sorted(peer.caps)})")
    yield peer
    peer.close()
