"""``pykarabo server``: run a device server (options, or Karabo-style ``key=value`` arguments)."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys

from pykarabo.errors import KaraboError

log = logging.getLogger(__name__)

# Karabo's key=value settings and the option each one stands for.
_SETTINGS = {"serverId": "id", "deviceClasses": "classes", "init": "init", "log.level": "log_level",
             "broker": "broker", "topic": "topic", "pluginNamespace": "groups"}


def register(sub) -> None:
    """Add the ``server`` subcommand."""
    p = sub.add_parser("server", help="run a device server hosting middlelayer devices",
                       description="Run a device server. Karabo-style settings work too, e.g. "
                                   "serverId=myServer deviceClasses=A,B 'init={\"DEV/1\": {\"classId\": \"A\"}}' "
                                   "log.level=DEBUG")
    p.add_argument("settings", nargs="*", metavar="key=value",
                   help="Karabo-style settings: " + ", ".join(_SETTINGS))
    p.add_argument("--id", default=None, help="the serverId (default: <host>_Server_<pid>)")
    p.add_argument("--broker", default=None, help="broker URL (default: $KARABO_BROKER or the embedded broker)")
    p.add_argument("--topic", default=None, help="broker topic (default: $KARABO_BROKER_TOPIC or the user)")
    p.add_argument("--init", default=None,
                   help='JSON object of devices to start: {"DEVICE/ID": {"classId": "Class", "key": value}}')
    p.add_argument("--plugins", action="append", default=[], metavar="MODULE[:CLASS],...",
                   help="device classes to load besides the entry points (comma-separated, repeatable)")
    p.add_argument("--classes", default=None, help="comma-separated classIds to offer (default: all found)")
    p.add_argument("--groups", default=None, help="comma-separated entry-point groups to search")
    p.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARN", "ERROR", "FATAL"),
                   help="log level of the server and default of its devices")
    p.set_defaults(func=run)


def _applySettings(args) -> None:
    for setting in args.settings:
        key, sep, value = setting.partition("=")
        if not sep or key not in _SETTINGS:
            raise KaraboError(f"unknown setting {setting!r}; known keys: {', '.join(_SETTINGS)}")
        setattr(args, _SETTINGS[key], value)


def run(args) -> int:
    """Discover classes, start the server and serve until SIGINT/SIGTERM or slotKillServer."""
    from pykarabo.server import ENTRY_POINT_GROUPS, DeviceServer, defaultServerId, discoverClasses

    try:
        _applySettings(args)
        init = json.loads(args.init) if args.init else {}
        if not isinstance(init, dict):
            raise KaraboError("init must be a JSON object mapping deviceIds to configurations")
        groups = args.groups.split(",") if args.groups else ENTRY_POINT_GROUPS
        plugins = [spec for value in args.plugins for spec in value.split(",") if spec]
        classes = discoverClasses(groups, plugins)
        if args.classes:
            wanted = [c for c in args.classes.split(",") if c]
            missing = [c for c in wanted if c not in classes]
            if missing:
                raise KaraboError(f"device classes not found: {', '.join(missing)}")
            classes = {c: classes[c] for c in wanted}
    except (KaraboError, ValueError) as exc:
        print(f"pykarabo server: {exc}", file=sys.stderr)
        return 2
    level = {"WARN": "WARNING", "FATAL": "CRITICAL"}.get(args.log_level, args.log_level)
    if not getattr(args, "verbose", False):
        logging.getLogger().setLevel(level)
    server = DeviceServer(args.id or defaultServerId(), classes, broker=args.broker, topic=args.topic, init=init,
                          logLevel=args.log_level)
    try:
        asyncio.run(_serve(server))
    except KaraboError as exc:
        print(f"pykarabo server: {exc}", file=sys.stderr)
        return 1
    return 0


async def _serve(server) -> None:
    from pykarabo.middlelayer.proxy import stopClient

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: loop.create_task(server.stop()))
    try:
        await server.run()
    finally:
        await stopClient()   # the topology client, if a device asked for getDevices() and the like
