"""A messaging participant in its own process, for the cross-process tests.

Usage: ``python -m tests.messaging.peer URL TOPIC ID`` (ID ``-`` only hosts the broker). Prints ``ready``
once online and stops when stdin closes.
"""

import os
import sys

from pykarabo.net.broker import createBackend
from pykarabo.net.broker.embedded import EmbeddedBroker
from pykarabo.net.broker.threads import ThreadedSignalSlotable


def main() -> None:
    url, topic, instanceId = sys.argv[1:4]
    if instanceId == "-":
        import zmq
        backend = createBackend(url, topic)
        broker = EmbeddedBroker(zmq.Context.instance(), backend.host, backend.port)
        print("ready", flush=True)
        sys.stdin.read()
        broker.close()
        return
    me = ThreadedSignalSlotable(instanceId, broker=url, topic=topic, heartbeatInterval=1)
    me.registerSlot(lambda x, y: x + y, "slotAdd")
    me.registerSlot(os.getpid, "slotPid")
    me.registerSlot(lambda target, x, y: me.request(target, "slotAdd", x, y).waitForReply(5000)[0], "slotRelay")
    me.start(timeout=10, pingTimeout=0.3)
    print("ready", flush=True)
    sys.stdin.read()
    me.stop()


if __name__ == "__main__":
    main()
