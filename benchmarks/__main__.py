"""Run every benchmark script and print all their figures in one table: ``python -m benchmarks``.

Each ``bench_*.py`` script measures pykarabo and its references in the same run and prints its
figures as lines starting with ``ratio`` or ``check`` (see ``benchmarks/README.md``).  This runner
starts the scripts one after the other, collects those lines and shows them side by side: the
figure, what it is compared with, its value, the target and PASS/FAIL.

    python -m benchmarks                    # every script, full runs (tens of minutes)
    python -m benchmarks --quick            # smoke runs: numbers are meaningless
    python -m benchmarks --only hash,validate
    python -m benchmarks --json             # rows and per-script status as JSON

The exit code is 1 when a script failed to run (not when a target is missed), else 0.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import available_scripts, format_figure_rows, parse_figures  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def run_script(name: str, quick: bool, timeout: float | None) -> dict:
    """Run ``bench_<name>.py`` (text output) and return its status, duration, figures and output."""
    cmd = [sys.executable, os.path.join(HERE, f"bench_{name}.py")] + (["--quick"] if quick else [])
    start = time.monotonic()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        rc, out, err = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        rc, out, err = None, e.stdout or "", f"timed out after {timeout} s"
        out = out.decode() if isinstance(out, bytes) else out
    return {"script": f"bench_{name}.py", "returncode": rc, "seconds": round(time.monotonic() - start, 1),
            "figures": parse_figures(out), "stdout": out, "stderr": err[-3000:] if err else ""}


def print_rows(headers: list[str], rows: list[list[str]]) -> None:
    """A plain-text table, text columns left aligned and the value column right aligned."""
    cells = [headers] + rows
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for n, r in enumerate(cells):
        print("  ".join(c.rjust(w) if i == 3 else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


def main(argv: list[str] | None = None) -> int:
    """Run the selected scripts and print one table; returns the exit code."""
    names = available_scripts(HERE)
    p = argparse.ArgumentParser(prog="python -m benchmarks", description="Run the pykarabo benchmark scripts "
                                "and print every figure with its reference, value, target and PASS/FAIL.")
    p.add_argument("--quick", action="store_true", help="pass --quick to every script (smoke run, numbers "
                   "are not meaningful)")
    p.add_argument("--only", metavar="NAME[,NAME]", default=None,
                   help=f"comma-separated subset of: {','.join(names)}")
    p.add_argument("--json", action="store_true", help="print rows and per-script status as JSON")
    p.add_argument("--timeout", type=float, default=None, help="seconds allowed per script (default: none)")
    args = p.parse_args(argv)
    selected = names
    if args.only:
        selected = [n.strip().removeprefix("bench_").removesuffix(".py") for n in args.only.split(",") if n.strip()]
        unknown = [n for n in selected if n not in names]
        if unknown:
            p.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(names)}")
    results = []
    for name in selected:
        if not args.json:
            print(f"running bench_{name}.py{' --quick' if args.quick else ''} ...", file=sys.stderr, flush=True)
        results.append(run_script(name, args.quick, args.timeout))
    failed = [r for r in results if r["returncode"] != 0]
    if args.json:
        json.dump({"quick": args.quick, "python": sys.version.split()[0],
                   "scripts": [{k: v for k, v in r.items() if k != "stdout"} for r in results]},
                  sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        rows = format_figure_rows(results)
        print_rows(["benchmark", "figure", "compared with", "value", "target", "result"], rows)
        print()
        for r in results:
            status = "ok" if r["returncode"] == 0 else f"FAILED (exit {r['returncode']})"
            print(f"{r['script']}: {status}, {r['seconds']} s, {len(r['figures'])} figures")
            if r["returncode"] != 0 and r["stderr"]:
                print("  " + r["stderr"].strip().splitlines()[-1])
        counts = {k: sum(f["result"] == k for r in results for f in r["figures"]) for k in ("PASS", "FAIL")}
        print(f"targets: {counts['PASS']} PASS, {counts['FAIL']} FAIL"
              + (" (quick run: numbers are not meaningful)" if args.quick else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
