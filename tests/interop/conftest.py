"""A real Karabo 3 peer process for interop tests (skipped with a reason when not installed)."""

import base64
from pathlib import Path

import pytest

from tests.karabo_env import PeerProcess, require_karabo_python


class KaraboPeer(PeerProcess):
    """Asks the real Karabo (C++ via karabind, or karabo.native) to decode and re-encode bytes."""

    def __init__(self, python: str):
        super().__init__(python, Path(__file__).with_name("karabo_peer.py"))

    def roundtrip(self, impl: str, data: bytes) -> bytes:
        """Karabo's ``save(load(data))``; raises RuntimeError with Karabo's message on failure."""
        return base64.b64decode(self.ask(impl=impl, data=base64.b64encode(data).decode())["data"])


@pytest.fixture(scope="session")
def karabo_peer():
    """The running peer; skips when no Python 3.12 venv with Karabo's wheels exists."""
    peer = KaraboPeer(require_karabo_python())
    if not peer.caps:
        peer.close()
        pytest.skip("the Karabo venv has neither karabind (karabo-cpp) nor karabo.native")
    yield peer
    peer.close()


def require(peer: KaraboPeer, impl: str):
    """Skip unless the peer offers ``impl``."""
    if impl not in peer.caps:
        pytest.skip(f"the Karabo venv lacks {'karabo-cpp' if impl == 'cpp' else 'karabo-native'}")
