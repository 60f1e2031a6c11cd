"""The session's private RabbitMQ for the AMQP tests (see rabbitmq.py): skipped without it, a failure in CI.

It has a TLS listener as well when the ``openssl`` command is there to make its certificates.
"""

import os
import shutil

import pytest

from tests.messaging.rabbitmq import RabbitServer, findRabbitServer


@pytest.fixture(scope="session")
def rabbitmq():
    """A running RabbitMQ on 127.0.0.1 owned by this test session (stopped at its end)."""
    program = findRabbitServer()
    if program is None:
        reason = "rabbitmq-server not installed (apt-get install rabbitmq-server)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}: the AMQP tests must run in CI")
        pytest.skip(reason)
    server = RabbitServer(program, tls=shutil.which("openssl") is not None)
    try:
        server.start()
    except (RuntimeError, OSError) as exc:
        server.close()
        if os.environ.get("CI"):
            pytest.fail(f"RabbitMQ did not start: {exc}")
        pytest.skip(f"RabbitMQ did not start: {exc}")
    yield server
    server.close()
