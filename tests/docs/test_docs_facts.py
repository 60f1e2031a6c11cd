"""Facts the pages state that the code can confirm: repository paths exist, device tables match the devices."""

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
_PATH = re.compile(r"`((?:examples|pykarabo|core|bindings|benchmarks|tests|bridge_client|docs|\.ci)/[\w./-]*)`")


def test_repository_paths_mentioned_exist():
    missing = []
    for page in [*DOCS.rglob("*.md"), ROOT / "README.md"]:
        for path in _PATH.findall(page.read_text(encoding="utf-8")):
            if not (ROOT / path.rstrip("/")).exists():
                missing.append(f"{page.relative_to(ROOT)}: {path}")
    assert not missing, missing


_ACCESS = {"init": "INITONLY", "read-only": "READONLY", "reconfigurable": "RECONFIGURABLE"}
_DEVICES = {
    "## The bridge device": [("pykarabo.bridge.mdl_device", "PipeToZeroMQ"),
                             ("pykarabo.bridge.bound_device", "BoundPipeToZeroMQ")],
    "## The DAQ device": [("pykarabo.daq.mdl_device", "DaqWriter"), ("pykarabo.daq.bound_device", "BoundDaqWriter")],
}


def _tables() -> dict[str, list[tuple[str, str]]]:
    """(key, access) rows of each device section's property table."""
    text = (DOCS / "reference" / "devices.md").read_text(encoding="utf-8")
    out = {}
    for heading in _DEVICES:
        section = text[text.index(heading):]
        section = section[:section.find("\n## ", 1)]
        out[heading] = re.findall(r"^\| `([\w.]+)` \| ([\w -]+?) \|", section, re.MULTILINE)
    return out


def _schema(module: str, name: str):
    cls = getattr(importlib.import_module(module), name)
    return cls.getClassSchema() if hasattr(cls, "getClassSchema") else cls.getSchema()


@pytest.mark.parametrize("heading", list(_DEVICES))
def test_device_tables_match_the_devices(heading):
    rows = _tables()[heading]
    assert len(rows) >= 10, rows
    for module, name in _DEVICES[heading]:
        try:
            schema = _schema(module, name)
        except ImportError as e:
            pytest.fail(f"{module}.{name} cannot be imported: {e}")
        for key, access in rows:
            assert schema.has(key), f"{name} has no {key}"
            if key.startswith("input."):
                continue
            want = _ACCESS[access.split(" in ")[0]]
            assert schema.getAccessMode(key).name == want, f"{name}.{key}: {schema.getAccessMode(key).name}"
