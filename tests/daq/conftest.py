"""Shared helpers of the DAQ tests: validation through extra-data's own validator.

Modules that need extra-data skip themselves (``pytest.importorskip``) when it is absent.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def validate(run_dir: Path) -> str:
    """Run ``extra-data-validate`` on a run directory; fail with its report unless it passes."""
    res = subprocess.run([sys.executable, "-m", "extra_data.validation", str(run_dir)],
                         capture_output=True, text=True, check=False, timeout=120)
    assert res.returncode == 0 and "No problems found" in res.stdout, res.stdout + res.stderr
    return res.stdout
