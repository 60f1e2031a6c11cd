"""``pykarabo shell``: an interactive client like Karabo's ikarabo, with the scripting functions preloaded.

IPython is used when installed (``pip install pykarabo[shell]``), Python's own console otherwise. Every
function is synchronous here; device ids complete with TAB inside quotes, e.g. ``connectDevice("SIM/<TAB>``,
properties and slots after a proxy's dot; a proxy prints as its properties with their values and units.
"""

from __future__ import annotations

import builtins
import code
import sys
import time
from typing import Any

import numpy as np

from pykarabo.units import MetricPrefix, Unit

BANNER = """pykarabo shell on {broker} (topic {topic})
Scripting functions are loaded: connectDevice, getDevice, setWait, execute, call, waitUntil, instantiate,
shutdown, getDevices, getServers, ... Device ids complete with TAB inside quotes."""


def register(sub) -> None:
    """Add the ``shell`` subcommand."""
    p = sub.add_parser("shell", help="interactive Karabo client with the middlelayer scripting functions")
    p.add_argument("--broker", default=None, help="broker URL (default: $KARABO_BROKER or the embedded broker)")
    p.add_argument("--topic", default=None, help="broker topic (default: $KARABO_BROKER_TOPIC or the user)")
    p.add_argument("--plain", action="store_true", help="use Python's console even if IPython is installed")
    p.set_defaults(func=run)


class InstanceIds:
    """The ids of the instances on the bus, refreshed at most every ``maxAge`` seconds (for completion)."""

    def __init__(self, maxAge: float = 2.0):
        self.maxAge = maxAge
        self._ids: list[str] = []
        self._when = float("-inf")

    def matching(self, prefix: str) -> list[str]:
        """Ids starting with ``prefix``."""
        from pykarabo.middlelayer import getClients, getDevices, getServers

        if time.monotonic() - self._when > self.maxAge:
            self._ids = sorted({*getDevices(), *getServers(), *getClients()})
            self._when = time.monotonic()
        return [i for i in self._ids if i.startswith(prefix)]


def namespace() -> dict:
    """What the shell preloads: the whole middlelayer API (scripting functions, Hash, State, ...)."""
    import pykarabo.middlelayer as mdl

    return {name: getattr(mdl, name) for name in mdl.__all__}


def _quotedPrefix(line: str) -> str | None:
    """The text after an unclosed quote at the end of ``line`` (None if no string is open)."""
    for quote in ('"', "'"):
        if line.count(quote) % 2:
            return line[line.rfind(quote) + 1:]
    return None


def _unitSymbol(value: Any) -> str:
    attributes = value._unitAttributes() if hasattr(value, "_unitAttributes") else {}
    unit, prefix = Unit.fromAttributes(attributes), MetricPrefix.fromAttributes(attributes)
    if unit is None or unit in (Unit.NUMBER, Unit.NOT_ASSIGNED):
        return ""
    return f" {prefix.value if prefix is not None else ''}{unit.value}"


def _plainValue(value: Any) -> str:
    from pykarabo.middlelayer.values import EnumValue

    if isinstance(value, EnumValue):
        return str(value)
    raw = getattr(value, "value", value)
    if isinstance(raw, np.ndarray):
        return np.array2string(raw, threshold=20, separator=", ")
    return repr(raw)


def formatProxy(proxy: Any) -> str:
    """A proxy as the shell prints it: its id, class and state, then every property (with its unit) and slot."""
    from pykarabo.middlelayer.proxy import ProxyNode

    lines = [f"<{proxy.deviceId}: {proxy.classId} in state {proxy.state}>"]

    def walk(node: Any, indent: str) -> None:
        for key in dir(node):
            value = getattr(node, key)
            if isinstance(value, ProxyNode):
                lines.append(f"{indent}{key}:")
                walk(value, indent + "  ")
            elif callable(value):   # a slot
                lines.append(f"{indent}{key}()")
            else:
                lines.append(f"{indent}{key}: {_plainValue(value)}{_unitSymbol(value)}")
    walk(proxy, "  ")
    return "\n".join(lines)


def _displayhook(value: Any) -> None:
    """The plain console's way of showing results: proxies in full, everything else as Python does."""
    from pykarabo.middlelayer.proxy import Proxy

    if isinstance(value, Proxy):
        builtins._ = value
        print(formatProxy(value))
    else:
        sys.__displayhook__(value)


def _plainConsole(ns: dict, ids: InstanceIds, banner: str) -> None:
    sys.displayhook = _displayhook
    try:
        import readline
        import rlcompleter
    except ImportError:   # no line editing on this platform: the console still works
        code.interact(banner=banner, local=ns)
        return
    names = rlcompleter.Completer(ns)

    def complete(text: str, state: int) -> str | None:
        prefix = _quotedPrefix(readline.get_line_buffer()[:readline.get_endidx()])
        if prefix is not None:
            matches = [i[len(prefix) - len(text):] for i in ids.matching(prefix)]
            return matches[state] if state < len(matches) else None
        return names.complete(text, state)
    readline.set_completer(complete)
    readline.parse_and_bind("tab: complete")
    code.interact(banner=banner, local=ns)


def configureIPython(shell: Any, ids: InstanceIds) -> None:
    """Teach an IPython shell our completions (device ids in quotes, properties after a dot) and printing."""
    from pykarabo.middlelayer.proxy import Proxy

    # Jedi completes from source analysis and misses what proxies only know at run time (their schema);
    # IPython's own completer asks dir(), which proxies answer with their properties and slots.
    shell.Completer.use_jedi = False

    def matchIds(text: str) -> list[str]:
        prefix = _quotedPrefix(shell.Completer.text_until_cursor)
        return [] if prefix is None else ids.matching(prefix)
    shell.Completer.custom_matchers.append(matchIds)
    shell.display_formatter.formatters["text/plain"].for_type(
        Proxy, lambda proxy, printer, cycle: printer.text(formatProxy(proxy)))


def _ipython(ns: dict, ids: InstanceIds, banner: str) -> None:
    from IPython.terminal.embed import InteractiveShellEmbed

    shell = InteractiveShellEmbed(user_ns=ns, banner1=banner)
    configureIPython(shell, ids)
    shell()


def run(args) -> int:
    """Join the bus as a client and start the console."""
    from pykarabo.middlelayer import configureClient
    from pykarabo.net.broker import brokerTopic, brokerUrls

    configureClient(args.broker, args.topic)
    ns = namespace()
    ids = InstanceIds()
    banner = BANNER.format(broker=brokerUrls(args.broker)[0].split("@")[-1], topic=brokerTopic(args.topic))
    if not args.plain:
        try:
            _ipython(ns, ids, banner)
            return 0
        except ImportError:
            pass
    _plainConsole(ns, ids, banner)
    return 0
