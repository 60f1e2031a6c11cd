"""Real Karabo 3 (C++, through karabind) reads the schema of our middlelayer devices and validates with it."""

import base64
from pathlib import Path

import pytest

from examples.motor import SimulatedMotor
from pykarabo import Hash, encodeBinary
from tests.karabo_env import PeerProcess, require_karabo_python
from tests.middlelayer.test_descriptors import Composite
from tests.middlelayer.test_device import Hello

pytestmark = pytest.mark.karabo


@pytest.fixture(scope="module")
def peer():
    process = PeerProcess(require_karabo_python(), Path(__file__).with_name("karabo_schema_peer.py"))
    if "cpp" not in process.caps:
        process.close()
        pytest.skip("the Karabo venv lacks karabo-cpp (karabind)")
    yield process
    process.close()


@pytest.mark.parametrize("cls, good, bad, message", [
    (Hello, Hash("limited", 4.0, "mode", "slow"), Hash("limited", 7.0),
     'Value 7 for parameter "limited" is out of upper bound 5'),
    (SimulatedMotor, Hash("velocity", 3.0), Hash("velocity", 0.0), 'parameter "velocity" is out of lower bound'),
    (Composite, Hash("motor.velocity", 2.0), Hash("mode", "fast"), 'unexpected configuration parameter: "mode"'),
])
def test_karabo_cpp_understands_our_device_schema(peer, cls, good, bad, message):
    schema = cls.getClassSchema()
    h = Hash()
    h["schema"] = schema
    h["good"] = good
    h["bad"] = bad
    reply = peer.ask(data=base64.b64encode(encodeBinary(h)).decode())
    assert reply["paths"] == schema.getPaths()
    assert reply["good"] == [True, ""]
    assert reply["bad"][0] is False and message in reply["bad"][1]
