"""``pykarabo broker serve|topology``: host the embedded broker, or list who is on the bus."""

from __future__ import annotations

import json
import os
import socket
import sys
import time

import zmq

from pykarabo import Hash
from pykarabo.errors import KaraboError
from pykarabo.net.broker import brokerUrls
from pykarabo.net.broker.embedded import EmbeddedBroker, parseEmbeddedUrl
from pykarabo.net.broker.threads import ThreadedSignalSlotable


def register(sub) -> None:
    """Add the ``broker`` subcommand with ``serve`` and ``topology``."""
    p = sub.add_parser("broker", help="the embedded message broker")
    ps = p.add_subparsers(dest="broker_command", required=True)

    s = ps.add_parser("serve", help="host the embedded broker in the foreground (a long-lived owner)")
    s.add_argument("--url", default=None, help="embedded://HOST:PORT (default: $KARABO_BROKER or the default)")
    s.add_argument("--duration", type=float, default=0, help="seconds to run (0: until interrupted)")
    s.set_defaults(func=run_serve)

    t = ps.add_parser("topology", help="discover the instances on the bus and print one JSON line each")
    t.add_argument("--url", default=None, help="broker URL (default: $KARABO_BROKER or the default)")
    t.add_argument("--topic", default=None, help="broker topic (default: $KARABO_BROKER_TOPIC or the user)")
    t.add_argument("--wait", type=float, default=2.0, help="seconds to collect answers")
    t.set_defaults(func=run_topology)


def run_serve(args) -> int:
    """Host the broker until interrupted (or for ``--duration`` seconds)."""
    try:
        host, port = parseEmbeddedUrl(brokerUrls(args.url)[0])
        broker = EmbeddedBroker(zmq.Context.instance(), host, port)
    except (KaraboError, zmq.ZMQError) as exc:
        print(f"cannot serve the embedded broker: {exc}", file=sys.stderr)
        return 1
    print(f"embedded broker on {host}:{port} (XSUB) and {port + 1} (XPUB)", flush=True)
    try:
        time.sleep(args.duration) if args.duration else _sleepForever()
    except KeyboardInterrupt:
        pass
    finally:
        broker.close()
    return 0


def _sleepForever() -> None:
    while True:
        time.sleep(3600)


def run_topology(args) -> int:
    """Join as a client, broadcast slotDiscover and print the instances that answered."""
    info = Hash("type", "client", "classId", "DeviceClient", "lang", "python")
    me = ThreadedSignalSlotable(f"pykarabo-{socket.gethostname()}-{os.getpid()}", info, broker=args.url,
                                topic=args.topic, trackTopology=True)
    try:
        me.start(timeout=max(args.wait, 2.0), pingTimeout=0.3)
    except KaraboError as exc:
        print(f"cannot join the bus: {exc}", file=sys.stderr)
        return 1
    try:
        time.sleep(args.wait)
        topology = me.core.topology
        for instanceId in topology.instanceIds():
            entry = topology.instanceInfo(instanceId)
            fields = {k: entry[k] for k in entry.getKeys() if isinstance(entry[k], (str, int, float, bool))}
            print(json.dumps({"instanceId": instanceId, **fields}), flush=True)
    finally:
        me.stop()
    return 0
