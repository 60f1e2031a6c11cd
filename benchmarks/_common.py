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
