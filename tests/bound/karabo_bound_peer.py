"""Real Karabo 3 bound API on the other side of test_interop_karabo_bound.py (run by Karabo's Python 3.12).

As a module it provides ``InteropSource`` and ``InteropSink`` (interop_devices.py built on ``karabo.bound``)
to Karabo's bound device server, which finds them through ``karabo.bound_device`` entry points the test
writes and runs each in a process of its own.  Run as a script, ``python karabo_bound_peer.py CLIENT_ID``
with ``KARABO_BROKER`` and ``KARABO_BROKER_TOPIC`` set, it is a ``karabo.bound.DeviceClient`` spoken to in
JSON lines (see tests/karabo_env.PeerProcess).  Requests (``op``): ``get`` (deviceId, keys: their values),
``schema`` (deviceId, keys: value type, access mode and default of each), ``set`` (deviceId, key, value),
``execute`` (deviceId, slot), ``quit``.
"""

import json
import sys
import threading

from karabo import bound
from interop_devices import deviceClasses

InteropSource, InteropSink = deviceClasses(bound)

T = 10   # seconds a reply may take


def plain(value):
    """A JSON-able value (States by name, numpy scalars and arrays as Python values)."""
    if isinstance(value, bound.State):
        return value.name
    return value.tolist() if hasattr(value, "tolist") else value


def handle(client, request: dict) -> dict:
    op, deviceId = request["op"], request["deviceId"]
    if op == "get":
        return {key: plain(client.get(deviceId, key)) for key in request["keys"]}
    if op == "schema":
        schema = client.getDeviceSchema(deviceId)
        return {key: {"valueType": schema.getValueType(key).name,
                      "reconfigurable": schema.isAccessReconfigurable(key),
                      "readOnly": schema.isAccessReadOnly(key),
                      "default": plain(schema.getDefaultValue(key)) if schema.hasDefaultValue(key) else None}
                for key in request["keys"]}
    if op == "set":
        client.set(deviceId, request["key"], request["value"], timeoutInSeconds=T)
        return {}
    if op == "execute":
        client.execute(deviceId, request["slot"], T)
        return {}
    raise ValueError(f"unknown op {op!r}")


def main(clientId: str, replies) -> None:
    loop = threading.Thread(target=bound.EventLoop.work, daemon=True)   # the DeviceClient needs it running
    loop.start()
    client = bound.DeviceClient(clientId)
    # Right after its start a DeviceClient may miss the signalChanged subscription of the first device it
    # reads (seen with Karabo's own devices too) and then never sees its changes: wait until its own ping
    # comes back through the broker.
    if not client.exists(clientId)[0]:
        raise RuntimeError(f"DeviceClient {clientId} does not see itself on the broker")
    print(json.dumps({"ready": ["get", "schema", "set", "execute"]}), file=replies, flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        if request["op"] == "quit":
            break
        try:
            reply = handle(client, request)
        except Exception as exc:
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(reply), file=replies, flush=True)
    del client
    bound.EventLoop.stop()
    loop.join(T)


if __name__ == "__main__":
    # Karabo may log to stdout: keep stdout for our JSON lines.
    replies, sys.stdout = sys.stdout, sys.stderr
    main(sys.argv[1], replies)
