import pytest

from tests.messaging.conftest import rabbitmq  # noqa: F401  (the session's RabbitMQ, for the AMQP interop tests)
from tests.middlelayer.bus import Bus


@pytest.fixture
def bus():
    return Bus()
