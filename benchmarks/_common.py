"""Shared helpers of the benchmark scripts: timing, argument parsing, table and JSON output.

Pure Python (no pykarabo import), so that the Karabo companion script can use it under another
interpreter as well.
"""

import argparse
import gc
import json
import platform
import statistics
import sys
import timeit


class Timing:
    """Run ``fn`` in ``repeats`` batches of ``loops`` calls; every batch lasts >= ``target`` s."""

    def __init__(self, repeats=7, target=0.1):
        self.repeats = repeats
        self.target = target

    def measure(self, fn):
        """Median and minimum time of one call of ``fn`` (seconds), and the loop count used."""
        return self.measure_many({"fn": fn})["fn"]

    def measure_many(self, fns):
        """Like ``measure`` for a dict name -> fn, batches interleaved round-robin.

        Contenders that are compared with each other are measured in alternation, so a change of
        machine load during the measurement affects all of them alike.
        """
        timers = {k: timeit.Timer(f) for k, f in fns.items()}
        loops = {k: self._loops(t) for k, t in timers.items()}
        runs = {k: [] for k in fns}
        for _ in range(self.repeats):
            for k, t in timers.items():
                runs[k].append(t.timeit(loops[k]) / loops[k])
            gc.collect()
        return {k: {"median": statistics.median(r), "min": min(r), "loops": loops[k],
                    "repeats": self.repeats} for k, r in runs.items()}

    def _loops(self, timer):
        loops = 1
        while True:                        # autorange with our own target time
            t = timer.timeit(loops)
            if t >= self.target:
                break
            if t <= 0:
                loops *= 10
            else:
                loops = max(loops + 1, int(loops * min(10.0, 1.2 * self.target / t)))
        return loops


def parser(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true",
                   help="smoke run: few repeats, short batches, small data (numbers are not meaningful)")
    p.add_argument("--json", action="store_true", help="print the results as JSON instead of tables")
    p.add_argument("--repeats", type=int, default=None, help="batches per measurement (default 7, quick 3)")
    p.add_argument("--target", type=float, default=None,
                   help="minimum seconds per batch (default 0.1, quick 0.002)")
    return p


def timing_from_args(args):
    repeats = args.repeats if args.repeats is not None else (3 if args.quick else 7)
    target = args.target if args.target is not None else (0.002 if args.quick else 0.1)
    return Timing(repeats, target)


def fmt_time(s):
    """Seconds as a short human string (ns / µs / ms / s)."""
    if s is None:
        return "-"
    if s < 1e-6:
        return f"{s * 1e9:.0f} ns"
    if s < 1e-3:
        return f"{s * 1e6:.1f} µs" if s < 1e-4 else f"{s * 1e6:.0f} µs"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"


def fmt_ratio(r):
    return "-" if r is None else f"{r:.2f}x"


def print_table(headers, rows, out=sys.stdout):
    """A plain-text table; the first column is left aligned, the others right aligned."""
    cells = [[str(c) for c in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(r):
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))

    print(line(cells[0]), file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for r in cells[1:]:
        print(line(r), file=out)


def environment():
    return {"python": sys.version.split()[0], "implementation": platform.python_implementation(),
            "machine": platform.machine(), "platform": platform.platform()}


def dump_json(obj):
    json.dump(obj, sys.stdout, indent=1, default=str)
    sys.stdout.write("\n")


# -- collecting the figures of several scripts (used by ``python -m benchmarks``) ------------------

_TARGET = r"target\s*(<=|>=|<|>)\s*([0-9][0-9.,]*)\s*([^\s):;]*)"
_COMPARE = {"<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b, "<": lambda a, b: a < b, ">": lambda a, b: a > b}


def available_scripts(directory):
    """Names of the benchmark scripts in ``directory`` (``bench_hash.py`` -> ``hash``), sorted."""
    import os
    return sorted(f[len("bench_"):-len(".py")] for f in os.listdir(directory)
                  if f.startswith("bench_") and f.endswith(".py"))


def _number(text):
    """The leading number of ``text`` (thousands separators allowed), or None."""
    import re
    m = re.match(r"\s*(-?[0-9][0-9,]*(?:\.[0-9]+)?)", text or "")
    return float(m.group(1).replace(",", "")) if m else None


def parse_figure_line(line):
    """One ``ratio ...`` or ``check ...`` line of a benchmark script as a dict, or None for other lines.

    Keys: ``figure``, ``compared`` (e.g. ``karabo-cpp/pykarabo``, may be empty), ``value`` (as
    printed), ``target`` (e.g. ``>= 2.0x``, may be empty) and ``result`` (``PASS``, ``FAIL`` or
    ``""`` when the script states no target).  A target without a verdict is judged here when the
    value and the target are plain numbers.
    """
    import re
    line = line.rstrip()
    if line.startswith("ratio "):
        body = line[len("ratio "):]
        name, sep, rest = body.partition(" = ")
        if not sep:
            return None
        value = re.split(r" \(|;", rest, maxsplit=1)[0].strip()
        m = re.search(_TARGET, rest)
        target = ""
        if m:
            unit = m.group(3)
            target = f"{m.group(1)} {m.group(2)}{unit if unit.startswith('x') else ' ' + unit}".rstrip()
        verdict = re.search(r"\b(PASS|FAIL)\b", rest, re.IGNORECASE)
        result = verdict.group(1).upper() if verdict else ""
        if not result and m and _number(value) is not None:
            result = "PASS" if _COMPARE[m.group(1)](_number(value), _number(m.group(2))) else "FAIL"
        figure, colon, compared = name.rpartition(": ")
        if not colon:
            figure, compared = name, ""
        return {"figure": figure, "compared": compared, "value": value, "target": target, "result": result}
    if line.startswith("check "):
        body = line[len("check "):]
        verdict = re.search(r"\b(PASS|FAIL)\s*$", body, re.IGNORECASE)
        result = verdict.group(1).upper() if verdict else ""
        if verdict:
            body = body[:verdict.start()].rstrip().removesuffix(":")
        name, _, value = body.rpartition(": ") if ": " in body else (body, "", "")
        m = re.search(r"\s(<=|>=|<|>)\s*(.+)$", name)
        target = f"{m.group(1)} {m.group(2)}" if m else ""
        figure = name[:m.start()] if m else name
        return {"figure": figure, "compared": "", "value": value.strip(), "target": target, "result": result}
    return None


def parse_figures(text):
    """Every figure line of a script's output, in order (see ``parse_figure_line``).

    A ``check`` line without a value that judges the figure of the line before it (as
    ``ratio 46MB threads/raw TCP = 0.62`` then ``check 46MB threads >= 0.7x raw TCP: PASS``) is
    merged into that figure.
    """
    figures = []
    for line in text.splitlines():
        f = parse_figure_line(line)
        if f is None:
            continue
        last = figures[-1] if figures else None
        if (line.startswith("check ") and not f["value"] and last is not None and not last["target"]
                and last["figure"].startswith(f["figure"])):
            last["target"], last["result"] = f["target"], f["result"]
            continue
        figures.append(f)
    return figures


def format_figure_rows(results):
    """Table rows (benchmark, figure, compared with, value, target, result) of several scripts' results."""
    rows = []
    for r in results:
        name = r["script"][len("bench_"):-len(".py")]
        if r["returncode"] != 0:
            rows.append([name, "(script failed)", "", "", "", "FAIL"])
        for f in r["figures"]:
            rows.append([name, f["figure"], f["compared"] or "-", f["value"] or "-", f["target"] or "-",
                         f["result"] or "-"])
    return rows
