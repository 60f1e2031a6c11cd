"""A script may run several event loops one after the other (``asyncio.run`` twice): the client of a
closed loop must go quiet, not fail on every message that still arrives for it."""

import subprocess
import sys
import textwrap

from pykarabo.net.broker.embedded import privateEmbeddedUrl

SCRIPT = textwrap.dedent("""
    import asyncio, sys, time
    from pykarabo.middlelayer import configureClient, getDevices
    configureClient(sys.argv[1], "lifetime")

    async def devices():
        return await getDevices()

    print(asyncio.run(devices()))
    time.sleep(0.5)   # the first loop is closed now; its client still receives broadcasts
    print(asyncio.run(devices()))
    time.sleep(1.0)
    print("done")
""")


def test_a_second_asyncio_run_works_and_the_first_client_goes_quiet():
    proc = subprocess.run([sys.executable, "-c", SCRIPT, privateEmbeddedUrl()], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["[]", "[]", "done"]
    assert "Event loop is closed" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
