"""Where the real Karabo 3 (karabo-native, karabo-cpp; Python 3.12 only) lives for interop tests."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def karabo_python() -> str | None:
    """The interpreter of the Karabo venv: $PYKARABO_KARABO_PYTHON, else a known venv, else None."""
    env = os.environ.get("PYKARABO_KARABO_PYTHON")
    if env:
        return env if shutil.which(env) or Path(env).exists() else None
    for candidate in (REPO / ".venv-karabo" / "bin" / "python", Path("/work/kvenv312/bin/python")):
        if candidate.exists():
            return str(candidate)
    return None
