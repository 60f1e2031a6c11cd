"""The real Karabo 3 schema peer (``schema_peer.py``); interop tests skip with a reason without it."""

import base64
from pathlib import Path

import pytest

from pykarabo import Hash, encodeBinary
from tests.karabo_env import PeerProcess, require_karabo_python


class SchemaPeer(PeerProcess):
    """Builds reference Schemas with real Karabo and validates configurations with karabind."""

    def __init__(self, python: str):
        super().__init__(python, Path(__file__).with_name("schema_peer.py"))

    def schema_bytes(self, api: str) -> bytes:
        """``encodeBinary(Hash("s", schema))`` of the peer's reference device Schema."""
        return base64.b64decode(self.ask(op="schema", api=api)["data"])

    def overwrite_errors(self) -> list[str | None]:
        """Karabo's messages for the refused overwrites of ``schema_peer.overwrite_errors``."""
        return self.ask(op="overwrite_errors")["errors"]

    def regex(self, regex: str, values: list[str], vectors: list[list[str]]) -> dict:
        """Whether middlelayer's RegexString / VectorRegexString with ``regex`` accept each value."""
        return self.ask(op="regex", regex=regex, values=values, vectors=vectors)

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


@pytest.fixture(scope="session")
def schema_peer():
    """The running peer; skips when no Python 3.12 venv with karabo-native and karabo-cpp exists."""
    python = require_karabo_python()
    peer = SchemaPeer(python)
    if not {"cpp", "native"} <= peer.caps:
        peer.close()
        pytest.skip(f"{python} lacks karabo-cpp or karabo-native (has {sorted(peer.caps)})")
    yield peer
    peer.close()
