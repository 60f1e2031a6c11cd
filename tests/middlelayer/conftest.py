import pytest

from tests.middlelayer.bus import Bus


@pytest.fixture
def bus():
    return Bus()
