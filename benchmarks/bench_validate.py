#!/usr/bin/env python3
"""Validating a 200-property reconfiguration against its Schema: pykarabo vs karabo-cpp's Validator.

The Schema has 20 nodes of 10 reconfigurable properties each (INT32 and DOUBLE with limits, STRING
with options, BOOL, VECTOR_DOUBLE with sizes); the reconfiguration sets all 200.  Both validators
run with the rules of a device's reconfiguration validator (no defaults, missing keys allowed,
timestamps forced); pykarabo additionally checks access modes and allowed states itself
(``reconfiguring=True``), which Karabo does beforehand by building a state-dependent Schema.

karabo-cpp is measured in the same run by this script under the Karabo interpreter
(``--companion``; env PYKARABO_KARABO_PYTHON, default /work/kvenv312/bin/python, "none" to skip),
in rounds alternating with pykarabo's measurement.

    python benchmarks/bench_validate.py [--quick] [--json] [--rounds N]
"""

import base64
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from _common import dump_json, environment, fmt_ratio, fmt_time, parser, print_table, timing_from_args  # noqa: E402

DEFAULT_KARABO_PYTHON = "/work/kvenv312/bin/python"
NODES, LEAVES = 20, 10
_BASE = {"injectDefaults": False, "allowUnrootedConfiguration": True, "allowAdditionalKeys": False,
         "allowMissingKeys": True}
CASES = {
    # what a device's slotReconfigure does
    "reconfigure (timestamps forced)": {**_BASE, "injectTimestamps": True, "forceInjectedTimestamp": True},
    # the checks alone
    "reconfigure (no timestamps)": {**_BASE, "injectTimestamps": False},
}


def build():
    """The Schema and the 200-key reconfiguration, with pykarabo."""
    from pykarabo import Hash, Types
    from pykarabo.access import AccessMode
    from pykarabo.schema import LeafElement, NodeElement, Schema
    from pykarabo.states import State

    rw = AccessMode.RECONFIGURABLE
    schema = Schema("Bench")
    config = Hash()
    for n in range(NODES):
        node = f"node{n}"
        NodeElement(node).commit(schema)
        for i in range(LEAVES):
            key = f"{node}.p{i}"
            kind = i % 5
            if kind == 0:
                LeafElement(key, Types.INT32, defaultValue=0, minInc=-1000, maxInc=1000, accessMode=rw,
                            allowedStates=[State.ON, State.OFF]).commit(schema)
                config.set(key, i * 7)
            elif kind == 1:
                LeafElement(key, Types.DOUBLE, defaultValue=0.0, minExc=-1e6, maxExc=1e6, accessMode=rw,
                            unitSymbol="V").commit(schema)
                config.set(key, i * 0.5)
            elif kind == 2:
                LeafElement(key, Types.STRING, defaultValue="slow", options=["slow", "fast", "auto"],
                            accessMode=rw).commit(schema)
                config.set(key, "fast")
            elif kind == 3:
                LeafElement(key, Types.BOOL, defaultValue=False, accessMode=rw).commit(schema)
                config.set(key, True)
            else:
                LeafElement(key, Types.VECTOR_DOUBLE, defaultValue=[0.0], minSize=1, maxSize=16,
                            accessMode=rw).commit(schema)
                config.setAs(key, [1.0, 2.0, 3.0], Types.VECTOR_DOUBLE)
    return schema, config


def companion(path, args):
    """Runs under the Karabo interpreter: times karabind's Validator on the shared Schema and config."""
    import karabind as kb

    timing = timing_from_args(args)
    with open(path) as f:
        shared = json.load(f)
    ser = kb.BinarySerializerHash.create("Bin")
    schema = ser.load(base64.b64decode(shared["schema"]))["s"]
    config = ser.load(base64.b64decode(shared["config"]))
    fns = {}
    for case, spec in CASES.items():
        rules = kb.ValidatorValidationRules()
        for name, value in spec.items():
            setattr(rules, name, value)
        validator = kb.Validator(rules)
        ok, message, _ = validator.validate(schema, config)
        if not ok:
            raise SystemExit(f"karabo-cpp rejected the benchmark configuration: {message}")
        fns[case] = lambda v=validator: v.validate(schema, config)
    dump_json({"karabo-cpp": timing.measure_many(fns)})


def run_companion(args, schema, config):
    from pykarabo import Hash, encodeBinary

    py = os.environ.get("PYKARABO_KARABO_PYTHON", DEFAULT_KARABO_PYTHON)
    if not py or py.lower() == "none":
        return None, "karabo-cpp skipped (PYKARABO_KARABO_PYTHON=none)"
    if not os.path.exists(py):
        return None, f"karabo-cpp skipped: {py} does not exist"
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({"schema": base64.b64encode(encodeBinary(Hash("s", schema))).decode(),
                   "config": base64.b64encode(encodeBinary(config)).decode()}, f)
    try:
        cmd = [py, os.path.abspath(__file__), "--companion", f.name]
        if args.quick:
            cmd.append("--quick")
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    finally:
        os.unlink(f.name)
    if p.returncode != 0:
        return None, f"karabo-cpp companion failed (exit {p.returncode}): {p.stderr.strip()[-2000:]}"
    return json.loads(p.stdout)["karabo-cpp"], None


def _median_of(rounds):
    """Per case, the median over the rounds of each round's median time."""
    return {case: {"median": statistics.median(r[case]["median"] for r in rounds),
                   "min": min(r[case]["min"] for r in rounds)} for case in rounds[0]}


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--companion", metavar="FILE",
                   help="internal: time karabo-cpp on the Schema/config in FILE (run by the Karabo interpreter)")
    p.add_argument("--rounds", type=int, default=3,
                   help="alternating rounds of pykarabo and karabo-cpp measurements (default 3, quick 1)")
    args = p.parse_args(argv)
    if args.companion:
        companion(args.companion, args)
        return
    from pykarabo.schema import ValidationRules, Validator
    from pykarabo.states import State

    timing = timing_from_args(args)
    schema, config = build()
    fns = {}
    for case, spec in CASES.items():
        validator = Validator(ValidationRules(**spec))
        fns[case] = lambda v=validator: v.validate(schema, config, reconfiguring=True, currentState=State.ON)
        fns[case]()  # compiles the Schema once, as a device does on its first reconfiguration
    # The two sides run in different processes, one after the other: alternating rounds let a
    # change of machine load hit both alike; each round gives one ratio, the median is reported.
    rounds = 1 if args.quick else args.rounds
    ours_rounds, karabo_rounds, note = [], [], None
    for _ in range(rounds):
        ours_rounds.append(timing.measure_many(fns))
        karabo, note = run_companion(args, schema, config)
        if karabo is None:
            break
        karabo_rounds.append(karabo)
    ours = _median_of(ours_rounds)
    karabo = _median_of(karabo_rounds) if karabo_rounds else None
    ratios = {case: statistics.median(k[case]["median"] / o[case]["median"]
                                      for o, k in zip(ours_rounds, karabo_rounds, strict=False))
              if karabo_rounds else None for case in CASES}
    if args.json:
        dump_json({"env": environment(), "properties": NODES * LEAVES, "rounds": len(ours_rounds),
                   "results": {"pykarabo": ours, "karabo-cpp": karabo},
                   "ratio_karabo_cpp_over_pykarabo": ratios, "note": note})
        return
    print(f"Validating a {NODES * LEAVES}-property reconfiguration (median of {timing.repeats} batches, "
          f"{len(ours_rounds)} alternating round(s); ratio: median of the rounds' ratios)")
    rows = [[case, fmt_time(ours[case]["median"]),
             fmt_time(None if karabo is None else karabo[case]["median"]), fmt_ratio(ratios[case])]
            for case in CASES]
    print_table(["case", "pykarabo", "karabo-cpp", "karabo-cpp/pykarabo"], rows)
    if note:
        print(note)
    for case in CASES:
        print(f"ratio {case}: karabo-cpp/pykarabo = {fmt_ratio(ratios[case])} (target >= 2x)")


if __name__ == "__main__":
    main()
