"""The benchmark data sets as plain Python/numpy values, plus their plain-``dict`` forms.

No pykarabo import: the Karabo companion script (run by a different interpreter) builds its
Hashes from exactly the same values.

* tiny: 3 scalars (INT32, DOUBLE, STRING).
* slow-control update: 20 nodes x 10 leaves = 200 leaves (DOUBLE, INT32, BOOL, STRING mixed),
  every leaf with the attributes ``sec``, ``frac``, ``tid`` (UINT64, in that order).
* table: one VECTOR_HASH ``table`` of 1000 rows with the columns name (STRING), value (DOUBLE),
  count (INT32), enabled (BOOL), comment (STRING), trainId (UINT64).
* detector train: ``header`` {trainId UINT64, pulseCount INT32, source STRING} and ``image``
  {data: uint16 NDArray (cells, 512, 128), cellId VECTOR_UINT16, pulseId VECTOR_UINT64}.
"""

import numpy as np

SLOW_NODES = 20
SLOW_LEAVES = 10
TABLE_ROWS = 1000
TABLE_COLUMNS = ("name", "value", "count", "enabled", "comment", "trainId")   # trainId is UINT64
TRAIN_CELLS = 352              # AGIPD-like module: (352, 512, 128) uint16 = 46 MB
TRAIN_CELLS_SMALL = 32         # second size for the "independent of array size" figures
TRAIN_SOURCE = "SPB_DET_AGIPD1M-1/DET/0CH0:xtdf"


def tiny():
    """[(key, value)]: INT32, DOUBLE, STRING."""
    return [("a", 1), ("b", 2.5), ("c", "hello")]


def slow_control():
    """[(node, [(leaf, value, sec, frac, tid)])] - 200 leaves under 20 nodes."""
    out = []
    i = 0
    for n in range(SLOW_NODES):
        leaves = []
        for k in range(SLOW_LEAVES):
            kind = k % 4
            if kind == 0:
                v = 0.5 + i * 1.25
            elif kind == 1:
                v = i * 7
            elif kind == 2:
                v = bool(i & 1)
            else:
                v = f"state {i}"
            leaves.append((f"prop{k}", v, 1700000000 + i, 123456789012345678 + i * 1000, 2000000000 + i))
            i += 1
        out.append((f"node{n}", leaves))
    return out


def slow_paths(spec):
    """[(path, value, sec, frac, tid)] with dotted paths - what path-based Hash code uses."""
    return [(f"{node}.{leaf}", v, s, f, t) for node, leaves in spec for leaf, v, s, f, t in leaves]


def table(n=TABLE_ROWS):
    """[(name, value, count, enabled, comment, trainId)] rows."""
    return [(f"motor{i}", i * 0.25, i, bool(i % 3), "ok" if i % 2 else "moving", 1_000_000_000 + i)
            for i in range(n)]


def train(cells=TRAIN_CELLS):
    """(header [(key, value)] with trainId UINT64, data uint16 (cells,512,128), cellId, pulseId)."""
    rng = np.random.default_rng(1)
    data = rng.integers(0, 4096, size=(cells, 512, 128), dtype=np.uint16)
    cell_id = np.arange(cells, dtype=np.uint16)
    pulse_id = np.arange(cells, dtype=np.uint64) + 1000
    header = [("trainId", 1234567890123), ("pulseCount", cells), ("source", TRAIN_SOURCE)]
    return header, data, cell_id, pulse_id


# -- plain dict forms ---------------------------------------------------------------------------

def dict_tiny(spec):
    return {k: v for k, v in spec}


def dict_slow(spec):
    """The natural dict code: attributes as a parallel dict per leaf."""
    d = {}
    for node, leaves in spec:
        nd = d[node] = {}
        for leaf, v, s, f, t in leaves:
            nd[leaf] = {"value": v, "attrs": {"sec": s, "frac": f, "tid": t}}
    return d


def dict_table(rows):
    return {"table": [{"name": a, "value": b, "count": c, "enabled": e, "comment": m, "trainId": t}
                      for a, b, c, e, m, t in rows]}


def dict_train(header, data, cell_id, pulse_id):
    return {"header": dict(header), "image": {"data": data, "cellId": cell_id, "pulseId": pulse_id}}


def walk_dict(d, out):
    """Generic read of every value of a nested dict/list structure into ``out``."""
    for v in d.values():
        t = type(v)
        if t is dict:
            walk_dict(v, out)
        elif t is list:
            for x in v:
                if type(x) is dict:
                    walk_dict(x, out)
                else:
                    out.append(x)
        else:
            out.append(v)
