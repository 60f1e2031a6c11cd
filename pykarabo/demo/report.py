"""The end of the demo: check the recorded run with extra-data (when installed) and describe it."""

from __future__ import annotations

from pathlib import Path

__all__ = ["describeRun", "validateRun"]


def validateRun(runDirectory: Path) -> tuple[bool | None, str]:
    """``(True, ...)`` if ``extra_data.validation`` finds no problem, ``(False, problems)``, or ``(None, why not)``."""
    try:
        from extra_data.validation import RunValidator, ValidationError
    except ImportError:
        return None, "not checked: extra_data is not installed (python3 -m pip install extra-data)"
    problems = RunValidator(str(runDirectory)).run_checks()
    if problems:
        return False, f"{len(problems)} problems:\n{ValidationError(problems)}"
    return True, "ok (extra_data.validation found no problems)"


def describeRun(runDirectory: Path) -> list[str]:
    """Lines saying what the run holds: through extra_data when installed, else its files."""
    files = sorted(runDirectory.glob("*.h5"))
    try:
        from extra_data import RunDirectory
    except ImportError:
        return [f"{len(files)} files: {', '.join(f.name for f in files)}"]
    run = RunDirectory(str(runDirectory))
    lines = [f"{len(run.train_ids)} trains in {len(files)} files"]
    for source in sorted(run.instrument_sources):
        for key in sorted(run[source].keys()):
            if key.startswith("image.data"):
                data = run[source, key]
                lines.append(f"INSTRUMENT {source} {key}: {data.shape} {data.dtype}")
    lines += [f"CONTROL {source}" for source in sorted(run.control_sources)]
    return lines
