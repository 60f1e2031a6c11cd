#!/usr/bin/env python3
"""Hash in-memory speed: build, read and deep-copy a pykarabo Hash vs. a plain nested dict.

Data sets (see _bench_data.py): a slow-control update (200 leaves under 20 nodes, every leaf with
UINT64 attributes sec/frac/tid) and a 1000-row table (VECTOR_HASH, 6 mixed-type columns).

For each operation several natural ways of writing the Hash code are timed; the fastest one is
compared with the dict code. Targets: read <= 2x dict, build <= 3x dict.

    python benchmarks/bench_hash.py [--quick] [--json]
"""

import copy
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _bench_data as data  # noqa: E402
from _common import (dump_json, environment, fmt_ratio, fmt_time, parser,  # noqa: E402
                     print_table, timing_from_args)

from pykarabo import Hash, Types  # noqa: E402

UINT64 = Types.UINT64
COLUMNS = data.TABLE_COLUMNS

TARGETS = {"build": 3.0, "read": 2.0}     # pykarabo time / dict time must be <= this


# -- slow-control update: build ------------------------------------------------------------------

def dict_build_slow(spec):
    return data.dict_slow(spec)


def build_slow_path_setattribute(paths):
    """h[path] = v; h.setAttribute(path, name, x, type=Types.UINT64) x3."""
    h = Hash()
    for p, v, s, f, t in paths:
        h[p] = v
        h.setAttribute(p, "sec", s, type=UINT64)
        h.setAttribute(p, "frac", f, type=UINT64)
        h.setAttribute(p, "tid", t, type=UINT64)
    return h


def build_slow_getattributes_set(paths):
    """h.set(path, v); a = h.getAttributes(path); a.set(name, x, Types.UINT64) x3."""
    h = Hash()
    for p, v, s, f, t in paths:
        h.set(p, v)
        a = h.getAttributes(p)
        a.set("sec", s, UINT64)
        a.set("frac", f, UINT64)
        a.set("tid", t, UINT64)
    return h


def build_slow_getnode(paths):
    """h[path] = v; n = h.getNode(path); n.setAttribute(name, x, Types.UINT64) x3."""
    h = Hash()
    for p, v, s, f, t in paths:
        h[p] = v
        n = h.getNode(p)
        n.setAttribute("sec", s, UINT64)
        n.setAttribute("frac", f, UINT64)
        n.setAttribute("tid", t, UINT64)
    return h


def build_slow_per_node(spec):
    """One Hash per node: n[key] = v; n.setAttribute(key, name, x, type=UINT64) x3; h[node] = n."""
    h = Hash()
    for node, leaves in spec:
        n = Hash()
        for k, v, s, f, t in leaves:
            n[k] = v
            n.setAttribute(k, "sec", s, type=UINT64)
            n.setAttribute(k, "frac", f, type=UINT64)
            n.setAttribute(k, "tid", t, type=UINT64)
        h[node] = n
    return h


# -- slow-control update: read --------------------------------------------------------------------

def dict_read_slow(d):
    out = []
    for nd in d.values():
        for leaf in nd.values():
            out.append(leaf["value"])
            out.extend(leaf["attrs"].values())
    return out


def read_slow_nodes(h):
    """for node in h.nodes(): for leaf in node.getValue().nodes(): leaf.getValue(), leaf.getAttributes().values()."""
    out = []
    for node in h.nodes():
        for leaf in node.getValue().nodes():
            out.append(leaf.getValue())
            out.extend(leaf.getAttributes().values())
    return out


def read_slow_items(h):
    """for k, sub in h.items(): for key in sub: sub[key], sub.getAttributes(key).values()."""
    out = []
    for _, sub in h.items():
        for key in sub:
            out.append(sub[key])
            out.extend(sub.getAttributes(key).values())
    return out


def make_read_slow_paths(paths):
    plist = [p[0] for p in paths]

    def read_slow_paths(h):
        """for path in paths: h[path], h.getAttributes(path).values()."""
        out = []
        for p in plist:
            out.append(h[p])
            out.extend(h.getAttributes(p).values())
        return out
    read_slow_paths.__doc__ = "for path in paths: h[path], h.getAttributes(path).values()"
    return read_slow_paths


# -- table: build ---------------------------------------------------------------------------------

def dict_build_table(rows):
    return data.dict_table(rows)


def build_table_pairs(rows):
    """Hash('name', a, 'value', b, ...) per row + row.setAs('trainId', t, Types.UINT64); h['table'] = rows."""
    out = []
    for a, b, c, e, m, t in rows:
        r = Hash("name", a, "value", b, "count", c, "enabled", e, "comment", m)
        r.setAs("trainId", t, UINT64)
        out.append(r)
    h = Hash()
    h["table"] = out
    return h


def build_table_setitem(rows):
    """r = Hash(); r['name'] = a; ... r.setAs('trainId', t, Types.UINT64); h['table'] = rows."""
    out = []
    for a, b, c, e, m, t in rows:
        r = Hash()
        r["name"] = a
        r["value"] = b
        r["count"] = c
        r["enabled"] = e
        r["comment"] = m
        r.setAs("trainId", t, UINT64)
        out.append(r)
    h = Hash()
    h["table"] = out
    return h


def build_table_fromdict(rows):
    """Hash({...}) per row + setAs('trainId', t, Types.UINT64); h['table'] = rows."""
    out = []
    for a, b, c, e, m, t in rows:
        r = Hash({"name": a, "value": b, "count": c, "enabled": e, "comment": m})
        r.setAs("trainId", t, UINT64)
        out.append(r)
    h = Hash()
    h["table"] = out
    return h


# -- table: read ----------------------------------------------------------------------------------

def dict_read_table(d):
    out = []
    for row in d["table"]:
        out.extend(row.values())
    return out


def read_table_values(h):
    """for row in h['table']: row.values()."""
    out = []
    for row in h["table"]:
        out.extend(row.values())
    return out


def read_table_nodes(h):
    """for row in h['table']: for n in row.nodes(): n.getValue()."""
    out = []
    for row in h["table"]:
        for n in row.nodes():
            out.append(n.getValue())
    return out


def read_table_columns(h):
    """for row in h['table']: for c in columns: row[c]."""
    out = []
    for row in h["table"]:
        for c in COLUMNS:
            out.append(row[c])
    return out


# -- deep copy ----------------------------------------------------------------------------------

def copy_deepcopy(h):
    """copy.deepcopy(h)."""
    return copy.deepcopy(h)


def copy_method(h):
    """h.copy() (tree copied, arrays shared as in C++; same as deep for these scalar data)."""
    return h.copy()


# -- checks -------------------------------------------------------------------------------------

def check_slow(h, spec):
    for node, leaves in spec:
        for k, v, s, f, t in leaves:
            p = f"{node}.{k}"
            assert h[p] == v, p
            a = h.getAttributes(p)
            assert list(a.keys()) == ["sec", "frac", "tid"], p
            assert [a["sec"], a["frac"], a["tid"]] == [s, f, t], p
            assert all(a.getType(x) == UINT64 for x in ("sec", "frac", "tid")), p


def check_table(h, rows):
    assert h.getType("table") == Types.VECTOR_HASH
    got = h["table"]
    assert len(got) == len(rows)
    for r, exp in zip(got, rows):
        assert tuple(r.values()) == exp, (r, exp)
        assert r.getType("trainId") == UINT64


# -- main ---------------------------------------------------------------------------------------

def run(args):
    timing = timing_from_args(args)
    spec = data.slow_control()
    paths = data.slow_paths(spec)
    rows = data.table(100 if args.quick else data.TABLE_ROWS)
    sets = [
        ("slow-control", spec, {
            "build": (lambda: dict_build_slow(spec),
                      [(f, (lambda f=f: f(paths))) for f in (build_slow_path_setattribute,
                                                           build_slow_getattributes_set,
                                                           build_slow_getnode)]
                      + [(build_slow_per_node, lambda: build_slow_per_node(spec))]),
            "read": (dict_read_slow, [read_slow_nodes, read_slow_items, make_read_slow_paths(paths)]),
            "copy": (copy.deepcopy, [copy_deepcopy, copy_method]),
        }, lambda: dict_build_slow(spec), lambda: build_slow_path_setattribute(paths),
            lambda h: check_slow(h, spec)),
        ("table", rows, {
            "build": (lambda: dict_build_table(rows),
                      [(f, (lambda f=f: f(rows))) for f in (build_table_pairs, build_table_setitem,
                                                          build_table_fromdict)]),
            "read": (dict_read_table, [read_table_values, read_table_nodes, read_table_columns]),
            "copy": (copy.deepcopy, [copy_deepcopy, copy_method]),
        }, lambda: dict_build_table(rows), lambda: build_table_pairs(rows),
            lambda h: check_table(h, rows)),
    ]
    results = {"environment": environment(), "quick": args.quick, "repeats": timing.repeats,
               "target_batch_s": timing.target, "sets": {}}
    for name, _, ops, mk_dict, mk_hash, check in sets:
        d = mk_dict()
        h = mk_hash()
        # every variant must build the same Hash, and the copies must equal the original
        check(h)
        for op, (_, variants) in ops.items():
            if op == "build":
                for _, fn in variants:
                    check(fn())
            elif op == "copy":
                for fn in variants:
                    check(fn(h))
            else:
                ref = ops["read"][0](d)
                for fn in variants:
                    got = fn(h)
                    assert len(got) == len(ref) and got == ref, (name, fn.__name__)
        res = results["sets"][name] = {}
        for op, (dict_fn, variants) in ops.items():
            # dict code and every Hash variant measured in alternating batches
            if op == "build":
                fns = {"<dict>": dict_fn, **{f.__name__: fn for f, fn in variants}}
                docs = {f.__name__: f.__doc__ for f, _ in variants}
            else:
                fns = {"<dict>": lambda: dict_fn(d), **{f.__name__: (lambda f=f: f(h)) for f in variants}}
                docs = {f.__name__: f.__doc__ for f in variants}
            m = timing.measure_many(fns)
            dict_t = m.pop("<dict>")
            var_t = {k: (docs[k], t) for k, t in m.items()}
            best = min(var_t, key=lambda k: var_t[k][1]["median"])
            ratio = var_t[best][1]["median"] / dict_t["median"]
            target = TARGETS.get(op)
            res[op] = {
                "dict": dict_t,
                "variants": {k: {"code": doc, **t} for k, (doc, t) in var_t.items()},
                "best": best,
                "ratio_vs_dict": ratio,
                "target_max_ratio": target,
                "pass": None if target is None else ratio <= target,
            }
    return results


def report(results):
    print(f"pykarabo Hash vs plain dict — Python {results['environment']['python']}, "
          f"median of {results['repeats']} batches (>= {results['target_batch_s']} s each)"
          + ("  [QUICK: not meaningful]" if results["quick"] else ""))
    print()
    rows = []
    for name, ops in results["sets"].items():
        for op, r in ops.items():
            best = r["variants"][r["best"]]
            tgt = r["target_max_ratio"]
            rows.append([f"{name} {op}", fmt_time(r["dict"]["median"]), fmt_time(best["median"]),
                         fmt_ratio(r["ratio_vs_dict"]), "-" if tgt is None else f"<= {tgt:.1f}x",
                         "-" if r["pass"] is None else ("PASS" if r["pass"] else "FAIL"), r["best"]])
    print_table(["case", "dict", "pykarabo", "ratio", "target", "result", "best natural variant"], rows)
    print()
    print("All variants (time, ratio to dict):")
    rows = []
    for name, ops in results["sets"].items():
        for op, r in ops.items():
            for k, v in r["variants"].items():
                rows.append([f"{name} {op}", k, fmt_time(v["median"]),
                             fmt_ratio(v["median"] / r["dict"]["median"]), v["code"] or ""])
    print_table(["case", "variant", "time", "ratio", "code"], rows)
    print()
    for name, ops in results["sets"].items():
        for op, r in ops.items():
            if r["target_max_ratio"] is not None:
                print(f"ratio {name} {op}: pykarabo/dict = {r['ratio_vs_dict']:.2f}x "
                      f"(target <= {r['target_max_ratio']:.1f}x) {'PASS' if r['pass'] else 'FAIL'}")


def main(argv=None):
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    results = run(args)
    if args.json:
        dump_json(results)
    else:
        report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
