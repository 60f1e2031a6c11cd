#!/usr/bin/env python3
"""Binary serialization speed: pykarabo vs karabo-cpp, karabo-native, msgpack and pickle 5.

Cases (see _bench_data.py): tiny Hash (3 scalars), slow-control update (200 leaves with UINT64
sec/frac/tid attributes), 1000-row table, detector train ((352, 512, 128) uint16 NDArray +
cellId/pulseId vectors + small header).  "encode" is Hash -> bytes; "decode" is bytes -> Hash
*plus reading every value and attribute back into Python* (a generic recursive walk written in
each library's natural API).  msgpack (+msgpack_numpy) and pickle protocol 5 (out-of-band
buffers) work on the equivalent plain dicts.  karabo-cpp / karabo-native are timed in the same
run by _karabo_companion.py under the Karabo interpreter (--karabo-python, env
PYKARABO_KARABO_PYTHON, default /work/kvenv312/bin/python; "none" to skip).

    python benchmarks/bench_serialize.py [--quick] [--json] [--karabo-python PATH]
"""

import hashlib
import json
import os
import pickle
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import msgpack  # noqa: E402
import msgpack_numpy  # noqa: E402
import numpy as np  # noqa: E402

import _bench_data as data  # noqa: E402
from _common import (dump_json, environment, fmt_ratio, fmt_time, parser,  # noqa: E402
                     print_table, timing_from_args)
from bench_hash import build_slow_per_node, build_table_setitem  # noqa: E402

from pykarabo import (Hash, NDArray, Types, decodeBinary, encodeBinary,  # noqa: E402
                      encodeBinaryBuffers)

DEFAULT_KARABO_PYTHON = "/work/kvenv312/bin/python"
CASES = ("tiny", "slow-control", "table", "train")
SMALL_CASES = ("tiny", "slow-control", "table")
IMPLS = ("pykarabo", "karabo-cpp", "karabo-native", "msgpack", "pickle5")
US100 = 100e-6


# -- pykarabo builders (natural user code) --------------------------------------------------------

def pyk_tiny(spec):
    h = Hash()
    for k, v in spec:
        h[k] = v
    return h


def pyk_train(header, arr, cell_id, pulse_id):
    h = Hash()
    h.setAs("header.trainId", header[0][1], Types.UINT64)
    h["header.pulseCount"] = header[1][1]
    h["header.source"] = header[2][1]
    h["image.data"] = NDArray(arr)
    h.setAs("image.cellId", cell_id, Types.VECTOR_UINT16)
    h.setAs("image.pulseId", pulse_id, Types.VECTOR_UINT64)
    return h


def walk_pyk(h, out):
    """Read every value and attribute of a decoded Hash (NDArray values come out as numpy)."""
    for _, v, attrs in h.iterall():
        if attrs:
            out.extend(attrs.values())
        t = type(v)
        if t is Hash:
            walk_pyk(v, out)
        elif t is list and v and type(v[0]) is Hash:
            for x in v:
                walk_pyk(x, out)
        else:
            out.append(v)


def pyk_decode_read(b):
    h = decodeBinary(b)
    walk_pyk(h, [])
    return h


# -- dict references ------------------------------------------------------------------------------

def msgpack_encode(d):
    return msgpack.packb(d, default=msgpack_numpy.encode)


def msgpack_decode_read(b):
    d = msgpack.unpackb(b, object_hook=msgpack_numpy.decode)
    data.walk_dict(d, [])
    return d


def pickle_encode(d):
    bufs = []
    p = pickle.dumps(d, protocol=5, buffer_callback=bufs.append)
    return p, bufs


def pickle_decode_read(pb):
    p, bufs = pb
    d = pickle.loads(p, buffers=bufs)
    data.walk_dict(d, [])
    return d


# -- the Karabo companion -------------------------------------------------------------------------

def run_companion(args, cells):
    py = args.karabo_python
    if py is None:
        py = os.environ.get("PYKARABO_KARABO_PYTHON", DEFAULT_KARABO_PYTHON)
    if not py or py.lower() == "none":
        return None, "karabo references skipped (--karabo-python none)"
    if not os.path.exists(py):
        return None, f"karabo references skipped: {py} does not exist"
    cmd = [py, os.path.join(HERE, "_karabo_companion.py"), "--cells", str(cells)]
    if args.quick:
        cmd.append("--quick")
    if args.repeats is not None:
        cmd += ["--repeats", str(args.repeats)]
    if args.target is not None:
        cmd += ["--target", str(args.target)]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    except subprocess.TimeoutExpired:
        return None, "karabo companion timed out"
    if p.returncode != 0:
        return None, f"karabo companion failed (exit {p.returncode}): {p.stderr.strip()[-2000:]}"
    return json.loads(p.stdout), None


# -- main ---------------------------------------------------------------------------------------

def run(args):
    timing = timing_from_args(args)
    cells = 8 if args.quick else data.TRAIN_CELLS
    cells_small = 2 if args.quick else data.TRAIN_CELLS_SMALL
    result = {"environment": environment(), "quick": args.quick, "repeats": timing.repeats,
              "target_batch_s": timing.target, "train_cells": [cells, cells_small],
              "times": {i: {} for i in IMPLS}, "sizes": {i: {} for i in IMPLS}, "train": {},
              "notes": []}

    companion, note = run_companion(args, cells)
    if note:
        result["notes"].append(note)
    if companion:
        result["karabo_versions"] = companion["versions"]
        result["karabo_environment"] = companion["environment"]
        for k, v in companion["errors"].items():
            result["notes"].append(f"companion error {k}: {v.strip().splitlines()[-1]}")
        for impl in ("karabo-cpp", "karabo-native"):
            for case, r in companion.get(impl, {}).items():
                result["times"][impl][case] = {"encode": r["encode"], "decode": r["decode"]}
                result["sizes"][impl][case] = {"size": r["size"], "sha256": r["sha256"]}

    rows = data.table(100 if args.quick else data.TABLE_ROWS)
    train = data.train(cells)
    inputs = {"tiny": (data.tiny(),), "slow-control": (data.slow_control(),), "table": (rows,),
              "train": train}
    pyk_builders = {"tiny": pyk_tiny, "slow-control": build_slow_per_node,
                    "table": build_table_setitem, "train": pyk_train}
    dict_builders = {"tiny": data.dict_tiny, "slow-control": data.dict_slow,
                     "table": data.dict_table, "train": data.dict_train}
    codecs = {"pykarabo": (encodeBinary, pyk_decode_read),
              "msgpack": (msgpack_encode, msgpack_decode_read),
              "pickle5": (pickle_encode, pickle_decode_read)}

    for case in CASES:
        objs = {"pykarabo": pyk_builders[case](*inputs[case])}
        objs["msgpack"] = objs["pickle5"] = dict_builders[case](*inputs[case])
        blobs = {}
        fns = {}
        for impl, (enc, dec) in codecs.items():
            obj = objs[impl]
            b = blobs[impl] = enc(obj)
            dec(b)                                   # warm-up and sanity
            fns[(impl, "encode")] = lambda enc=enc, obj=obj: enc(obj)
            fns[(impl, "decode")] = lambda dec=dec, b=b: dec(b)
        if case == "train":
            fns[("pykarabo", "buffers")] = lambda obj=objs["pykarabo"]: encodeBinaryBuffers(obj)
        # the in-process contenders of one operation are measured in alternating batches
        m = {}
        for op in ("encode", "decode"):
            m.update(timing.measure_many({k: f for k, f in fns.items() if k[1] == op or
                                          (op == "encode" and k[1] == "buffers")}))
        for impl in codecs:
            b = blobs[impl]
            result["times"][impl][case] = {"encode": m[(impl, "encode")], "decode": m[(impl, "decode")]}
            if case == "train" and impl == "pickle5":
                # pickle's out-of-band buffers are zero-copy: compare with encodeBinaryBuffers
                result["times"][impl]["train"]["encode"] = None
                result["times"][impl]["train zero-copy"] = {"encode": m[(impl, "encode")], "decode": None}
            elif case == "train" and impl == "pykarabo":
                result["times"][impl]["train zero-copy"] = {"encode": m[("pykarabo", "buffers")],
                                                            "decode": None}
            if impl == "pickle5":
                size = len(b[0]) + sum(memoryview(x).nbytes for x in b[1])
                result["sizes"][impl][case] = {"size": size}
            else:
                result["sizes"][impl][case] = {"size": len(b)}
                if impl == "pykarabo":
                    result["sizes"][impl][case]["sha256"] = hashlib.sha256(b).hexdigest()
            del b
        del blobs, fns, m

    # train specifics: zero-copy encode / view decode at two array sizes, encodeBinary vs tobytes
    for n_cells, tr in ((cells, train), (cells_small, data.train(cells_small))):
        h = pyk_train(*tr)
        arr = tr[1]
        b = encodeBinary(h)
        bufs = encodeBinaryBuffers(h)
        assert b"".join(bytes(memoryview(x)) for x in bufs) == b
        got = decodeBinary(b)["image.data"]
        assert got.shape == arr.shape and not got.flags.owndata
        result["train"][str(n_cells)] = {"array_bytes": arr.nbytes, **timing.measure_many({
            "encodeBinaryBuffers": lambda: encodeBinaryBuffers(h),
            "decodeBinary": lambda: decodeBinary(b),
            "decodeBinary+read": lambda: pyk_decode_read(b),
            "encodeBinary": lambda: encodeBinary(h),
            "ndarray.tobytes": lambda: arr.tobytes(),
        })}
        del b, bufs, got
    result["checks"] = evaluate(result)
    return result


def med(result, impl, case, op):
    r = result["times"].get(impl, {}).get(case)
    return None if r is None or r.get(op) is None else r[op]["median"]


def evaluate(result):
    """The target checks: list of {name, value, target, pass} (pass None = reference missing)."""
    checks = []

    def add(name, value, op, target, unit="x"):
        ok = None if value is None else (value >= target if op == ">=" else
                                          value > target if op == ">" else
                                          value <= target if op == "<=" else value < target)
        checks.append({"name": name, "value": value, "op": op, "target": target, "unit": unit,
                       "pass": ok})

    def ratio(a, b):
        return None if a is None or b is None else a / b

    for case in SMALL_CASES:
        add(f"{case} encode: karabo-cpp/pykarabo", ratio(med(result, "karabo-cpp", case, "encode"),
                                                         med(result, "pykarabo", case, "encode")), ">=", 1.0)
        add(f"{case} decode+read: karabo-cpp/pykarabo",
            ratio(med(result, "karabo-cpp", case, "decode"), med(result, "pykarabo", case, "decode")), ">=", 2.0)
        add(f"{case} decode+read: msgpack/pykarabo",
            ratio(med(result, "msgpack", case, "decode"), med(result, "pykarabo", case, "decode")), ">", 1.0)
    # the issue asks 5x karabo-native of the small cases; a whole-train encode into one bytes object
    # is bound by copying 46 MB (its own target is the ratio to ndarray.tobytes below)
    for case in SMALL_CASES:
        for op, label in (("encode", "encode"), ("decode", "decode+read")):
            add(f"{case} {label}: karabo-native/pykarabo",
                ratio(med(result, "karabo-native", case, op), med(result, "pykarabo", case, op)), ">=", 5.0)
    add("train zero-copy encode: karabo-native/pykarabo (encodeBinaryBuffers)",
        ratio(med(result, "karabo-native", "train", "encode"), med(result, "pykarabo", "train zero-copy", "encode")),
        ">=", 5.0)
    for n, r in result["train"].items():
        add(f"train[{n} cells] encodeBinaryBuffers time", r["encodeBinaryBuffers"]["median"], "<", US100, "s")
        add(f"train[{n} cells] decodeBinary time", r["decodeBinary"]["median"], "<", US100, "s")
        add(f"train[{n} cells] encodeBinary/ndarray.tobytes",
            r["encodeBinary"]["median"] / r["ndarray.tobytes"]["median"], "<=", 1.3)
    return checks


def report(result):
    env = result["environment"]
    print(f"Binary serialization — pykarabo on Python {env['python']}"
          + (f", Karabo {result.get('karabo_versions')} on Python "
             f"{result['karabo_environment']['python']}" if "karabo_versions" in result else "")
          + f"; median of {result['repeats']} batches (>= {result['target_batch_s']} s each)"
          + ("  [QUICK: not meaningful]" if result["quick"] else ""))
    print(f"train = ({result['train_cells'][0]}, 512, 128) uint16; decode+read = decode + read every value"
          " and attribute; 'vs X' = X time / pykarabo time (> 1: pykarabo faster)")
    print("train encode = one bytes object (pykarabo encodeBinary); train zero-copy encode = pykarabo"
          " encodeBinaryBuffers vs pickle 5 with out-of-band buffers")
    print()
    rows = []
    for case in CASES + ("train zero-copy",):
        for op, label in (("encode", "encode"), ("decode", "decode+read")):
            p = med(result, "pykarabo", case, op)
            if p is None:
                continue
            row = [f"{case} {label}"] + [fmt_time(med(result, i, case, op)) for i in IMPLS]
            for i in ("karabo-cpp", "karabo-native", "msgpack", "pickle5"):
                o = med(result, i, case, op)
                row.append("-" if o is None else fmt_ratio(o / p))
            rows.append(row)
    print_table(["case", "pykarabo", "karabo-cpp", "karabo-native", "msgpack", "pickle5",
                 "vs cpp", "vs native", "vs msgpack", "vs pickle5"], rows)
    print()
    print("Encoded sizes (bytes; pickle5 = pickle + out-of-band buffers):")
    rows = []
    cpp = result["sizes"]["karabo-cpp"]
    for case in CASES:
        row = [case]
        for i in IMPLS:
            s = result["sizes"][i].get(case)
            row.append("-" if s is None else str(s["size"]))
        pk = result["sizes"]["pykarabo"][case].get("sha256")
        same = [i for i in ("karabo-cpp", "karabo-native") if result["sizes"][i].get(case, {}).get("sha256") == pk]
        row.append(", ".join(same) if same else ("-" if not cpp else "none"))
        rows.append(row)
    print_table(["case"] + list(IMPLS) + ["pykarabo bytes identical to"], rows)
    print()
    print("Detector train, pykarabo only (zero-copy paths at two array sizes):")
    rows = []
    for n, r in result["train"].items():
        rows.append([f"({n}, 512, 128) {r['array_bytes'] / 2**20:.1f} MiB",
                     fmt_time(r["encodeBinaryBuffers"]["median"]), fmt_time(r["decodeBinary"]["median"]),
                     fmt_time(r["decodeBinary+read"]["median"]), fmt_time(r["encodeBinary"]["median"]),
                     fmt_time(r["ndarray.tobytes"]["median"]),
                     fmt_ratio(r["encodeBinary"]["median"] / r["ndarray.tobytes"]["median"])])
    print_table(["array", "encodeBinaryBuffers", "decodeBinary", "decode+read", "encodeBinary",
                 "ndarray.tobytes", "encodeBinary/tobytes"], rows)
    print()
    print("Targets:")
    for c in result["checks"]:
        if c["unit"] == "s":
            val, tgt = fmt_time(c["value"]), fmt_time(c["target"])
        else:
            val = "n/a" if c["value"] is None else f"{c['value']:.2f}x"
            tgt = f"{c['target']:.1f}x"
        res = "n/a (reference missing)" if c["pass"] is None else ("PASS" if c["pass"] else "FAIL")
        print(f"ratio {c['name']} = {val} (target {c['op']} {tgt}) {res}")
    for n in result["notes"]:
        print(f"note: {n}")


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--karabo-python", default=None,
                   help="interpreter with karabo-cpp/karabo-native (env PYKARABO_KARABO_PYTHON; "
                        f"default {DEFAULT_KARABO_PYTHON}; 'none' to skip)")
    args = p.parse_args(argv)
    result = run(args)
    if args.json:
        dump_json(result)
    else:
        report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
