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
    # A node usually starts in ~8 s, yet once in a while one hangs at "Starting broker...": a second node,
    # with fresh ports and state, is tried before giving up.
    for _ in range(2):
        server = RabbitServer(program, tls=shutil.which("openssl") is not None)
        try:
            server.start()
            break
        except (RuntimeError, OSError) as exc:
            server.close()
            error = exc
    else:
        if os.environ.get("CI"):
            pytest.fail(f"RabbitMQ did not start (2 attempts): {error}")
        pytest.skip(f"RabbitMQ did not start (2 attempts): {error}")
    yield server
    server.close()
