#!/usr/bin/env python3
"""Companion of bench_serialize.py, run by the interpreter that has real Karabo 3 installed.

Builds the data sets of _bench_data.py with karabo-cpp's Hash (``karabind``) and karabo-native's
Hash, times encode and decode+read exactly like bench_serialize.py does for pykarabo, and prints
one JSON document: {"karabo-cpp": {case: {"encode": t, "decode": t, "size": n, "sha256": s}},
"karabo-native": {...}, "versions": {...}}.  A library that cannot be imported is reported
under "errors" instead.

    /work/kvenv312/bin/python benchmarks/_karabo_companion.py [--quick] [--cells N]
"""

import hashlib
import os
import sys
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import _bench_data as data  # noqa: E402
from _common import dump_json, environment, parser, timing_from_args  # noqa: E402


# -- karabo-cpp (karabind) ------------------------------------------------------------------------

def cpp_impl():
    import karabind as kb
    T = kb.Types
    ser = kb.BinarySerializerHash.create("Bin")
    KHash, KVector = kb.Hash, kb.VectorHash

    def build_tiny(spec):
        h = KHash()
        for k, v in spec:
            h[k] = v
        return h

    def build_slow(spec):
        h = KHash()
        u64 = np.uint64          # karabind types a numpy uint64 scalar as UINT64
        for node, leaves in spec:
            for k, v, s, f, t in leaves:
                p = f"{node}.{k}"
                h[p] = v
                h.setAttribute(p, "sec", u64(s))
                h.setAttribute(p, "frac", u64(f))
                h.setAttribute(p, "tid", u64(t))
        return h

    def build_table(rows):
        out = []
        for a, b, c, e, m, t in rows:
            r = KHash("name", a, "value", b, "count", c, "enabled", e, "comment", m)
            r.setAs("trainId", t, T.UINT64)
            out.append(r)
        h = KHash()
        h["table"] = out
        return h

    def build_train(header, arr, cell_id, pulse_id):
        h = KHash()
        h.setAs("header.trainId", header[0][1], T.UINT64)
        h["header.pulseCount"] = header[1][1]
        h["header.source"] = header[2][1]
        h["image.data"] = arr                       # N-d numpy array -> NDArray
        h.setAs("image.cellId", cell_id.tolist(), T.VECTOR_UINT16)
        h.setAs("image.pulseId", pulse_id.tolist(), T.VECTOR_UINT64)
        return h

    def walk(h, out):
        for n in h:
            v = n.getValue()
            for a in n.getAttributes():
                out.append(a.getValue())
            if isinstance(v, KHash):
                if n.hasAttribute("__classId"):      # NDArray: h[key] gives the numpy array
                    out.append(h[n.getKey()])
                else:
                    walk(v, out)
            elif isinstance(v, KVector):
                for x in v:
                    walk(x, out)
            else:
                out.append(v)

    def decode_read(b):
        h = ser.load(b)
        walk(h, [])
        return h

    import karabind
    version = getattr(karabind, "__version__", None)
    try:
        from importlib.metadata import version as v
        version = v("karabo-cpp")
    except Exception:
        pass
    return {"build": {"tiny": build_tiny, "slow-control": build_slow, "table": build_table,
                      "train": build_train},
            "encode": ser.save, "decode": decode_read, "version": version}


# -- karabo-native ------------------------------------------------------------------------------

def native_impl():
    from karabo.native import Hash as NHash, decodeBinary, encodeBinary

    def build_tiny(spec):
        h = NHash()
        for k, v in spec:
            h[k] = v
        return h

    def build_slow(spec):
        h = NHash()
        u64 = np.uint64          # native types Python int as INT32; numpy uint64 is UINT64
        for node, leaves in spec:
            for k, v, s, f, t in leaves:
                p = f"{node}.{k}"
                h[p] = v
                h[p, "sec"] = u64(s)
                h[p, "frac"] = u64(f)
                h[p, "tid"] = u64(t)
        return h

    def build_table(rows):
        out = []
        for a, b, c, e, m, t in rows:
            r = NHash("name", a, "value", b, "count", c, "enabled", e, "comment", m)
            r["trainId"] = np.uint64(t)
            out.append(r)
        h = NHash()
        h["table"] = out
        return h

    def build_train(header, arr, cell_id, pulse_id):
        h = NHash()
        h["header.trainId"] = np.uint64(header[0][1])
        h["header.pulseCount"] = header[1][1]
        h["header.source"] = header[2][1]
        nd = NHash()                 # NDArray in the Hash form, C++ child order
        nd["data"] = bytearray(arr.tobytes())
        nd["type"] = np.int32(10)    # UINT16
        nd["shape"] = np.array(arr.shape, dtype=np.uint64)
        nd["isBigEndian"] = False
        h["image.data"] = nd
        h["image.data", "__classId"] = "NDArray"
        h["image.cellId"] = cell_id
        h["image.pulseId"] = pulse_id
        return h

    def walk(h, out):
        for _, v, attrs in h.iterall():
            out.extend(attrs.values())
            if isinstance(v, NHash):
                walk(v, out)
            elif isinstance(v, list) and v and isinstance(v[0], NHash):
                for x in v:
                    walk(x, out)
            else:
                out.append(v)

    def decode_read(b):
        h = decodeBinary(b)
        walk(h, [])
        return h

    version = None
    try:
        from importlib.metadata import version as v
        version = v("karabo-native")
    except Exception:
        pass
    return {"build": {"tiny": build_tiny, "slow-control": build_slow, "table": build_table,
                      "train": build_train},
            "encode": encodeBinary, "decode": decode_read, "version": version}


def run(args):
    timing = timing_from_args(args)
    cells = args.cells if args.cells else (8 if args.quick else data.TRAIN_CELLS)
    inputs = {"tiny": (data.tiny(),), "slow-control": (data.slow_control(),),
              "table": (data.table(100 if args.quick else data.TABLE_ROWS),),
              "train": data.train(cells)}
    result = {"environment": environment(), "train_cells": cells, "versions": {}, "errors": {}}
    for name, factory in (("karabo-cpp", cpp_impl), ("karabo-native", native_impl)):
        if args.only and name not in args.only.split(","):
            continue
        try:
            impl = factory()
        except Exception:
            result["errors"][name] = traceback.format_exc(limit=2)
            continue
        result["versions"][name] = impl["version"]
        res = result[name] = {}
        for case, inp in inputs.items():
            try:
                h = impl["build"][case](*inp)
                b = impl["encode"](h)
                impl["decode"](b)
                enc = impl["encode"]
                dec = impl["decode"]
                res[case] = {
                    **timing.measure_many({"encode": lambda: enc(h), "decode": lambda: dec(b)}),
                    "size": len(b),
                    "sha256": hashlib.sha256(b).hexdigest(),
                }
                del b
            except Exception:
                result["errors"][f"{name}/{case}"] = traceback.format_exc(limit=3)
    return result


def main():
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--cells", type=int, default=None, help="train cells (default 352, quick 8)")
    p.add_argument("--only", default=None, help="comma-separated subset: karabo-cpp,karabo-native")
    args = p.parse_args()
    dump_json(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
