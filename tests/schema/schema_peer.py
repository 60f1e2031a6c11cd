"""Runs under the real Karabo's Python 3.12: builds reference Schemas and validates configurations.

One JSON request per stdin line, one JSON reply per line; the first line written is
``{"ready": [capabilities]}`` ("native": karabo.native descriptors, "cpp": karabind).  Requests:

* ``{"op": "schema", "api": "mdl" | "bound" | "overwritten"}`` -> ``{"data": b64}``:
  ``encodeBinary(Hash("s", schema))`` of a device Schema with every element kind, built with
  middlelayer descriptors (karabo.native) or with the bound/C++ builders (karabind), the latter
  also after a derived class's OVERWRITE_ELEMENTs.
* ``{"op": "regex", "regex": str, "values": [...], "vectors": [[...]]}`` -> ``{"string": [bool],
  "vector": [bool]}``: whether middlelayer's RegexString / VectorRegexString accept each value.
* ``{"op": "overwrite_errors"}`` -> ``{"errors": [...]}``: Karabo's messages for refused overwrites.
* ``{"op": "validate", "schema": b64, "config": b64, "rules": {...}}`` -> ``{"ok", "message", "result": b64}``:
  karabind's ``Validator`` on the Schema in ``Hash("s", schema)`` bytes.
* ``{"op": "read", "schema": b64}`` -> ``{"paths": {...}, "roundtrip": b64}``: what karabind's
  ``Schema`` reports for every path, and its re-encoding of the bytes.
"""

import base64
import json
import sys

import numpy as np

caps = []
try:
    import karabind as kb

    _ser = kb.BinarySerializerHash.create("Bin")
    caps.append("cpp")
except ImportError:
    kb = None
try:
    import karabo.native as kn

    caps.append("native")
except ImportError:
    kn = None


def mdl_schema():
    """A middlelayer-style device declaring every element kind karabo.native offers."""
    from karabo.common.states import State

    class Row(kn.Configurable):
        a = kn.Int32(defaultValue=1)
        b = kn.String(defaultValue="x")

    class Sub(kn.Configurable):
        gain = kn.Double(defaultValue=1.0, maxInc=10, unitSymbol=kn.Unit.VOLT,
                         metricPrefixSymbol=kn.MetricPrefix.MILLI)
        mode = kn.String(defaultValue="fast", options=["fast", "slow"])

    class Dev(kn.Configurable):
        i32 = kn.Int32(defaultValue=3, minInc=0, maxExc=100, displayedName="I", description="d",
                       tags={"a"})
        ro = kn.UInt32(accessMode=kn.AccessMode.READONLY, archivePolicy=kn.ArchivePolicy.NO_ARCHIVING)
        init = kn.String(accessMode=kn.AccessMode.INITONLY, options=["a", "b"], defaultValue="a")
        mand = kn.Float(assignment=kn.Assignment.MANDATORY)
        u8 = kn.UInt8(defaultValue=7, maxInc=200)
        i64 = kn.Int64(defaultValue=-5, minExc=-10)
        flag = kn.Bool(defaultValue=True, requiredAccessLevel=kn.AccessLevel.EXPERT)
        vec = kn.VectorDouble(defaultValue=[1.0, 2.0], minSize=1, maxSize=5)
        vi = kn.VectorInt32(defaultValue=[1, 2, 3])
        vs = kn.VectorString(defaultValue=["x"])
        node = kn.Node(Sub)
        table = kn.VectorHash(rows=Row, defaultValue=[])
        arr = kn.NDArray(dtype=kn.Float, shape=(10,))
        img = kn.Image(dtype=kn.UInt16, shape=(4, 5))
        rx = kn.RegexString(regex="^a.*$", defaultValue="ab")
        stateful = kn.Double(defaultValue=0.5, allowedStates={State.ON, State.OFF})
        state = kn.String(enum=State, displayType="State", defaultValue=State.UNKNOWN,
                          accessMode=kn.AccessMode.READONLY)

        @kn.Slot(displayedName="Start", allowedStates=[State.OFF])
        def start(self):
            pass

    return Dev.getClassSchema()


def bound_schema():
    """The same kinds of elements declared with the bound/C++ builders."""
    from karabo.common.states import State

    s = kb.Schema("Dev")
    S = kb.Schema
    kb.INT32_ELEMENT(s).key("i32").displayedName("I").description("d").tags("a").assignmentOptional() \
        .defaultValue(3).minInc(0).maxExc(100).reconfigurable().commit()
    kb.UINT32_ELEMENT(s).key("ro").readOnly().initialValue(0).archivePolicy(S.NO_ARCHIVING).commit()
    kb.STRING_ELEMENT(s).key("init").options("a,b").assignmentOptional().defaultValue("a").init().commit()
    kb.FLOAT_ELEMENT(s).key("mand").assignmentMandatory().reconfigurable().commit()
    kb.DOUBLE_ELEMENT(s).key("d").unit(S.VOLT).metricPrefix(S.MILLI).assignmentOptional().defaultValue(1.0) \
        .allowedStates(State.ON, State.OFF).expertAccess().reconfigurable().commit()
    kb.VECTOR_DOUBLE_ELEMENT(s).key("vec").minSize(1).maxSize(5).assignmentOptional() \
        .defaultValue([1.0, 2.0]).reconfigurable().commit()
    kb.NODE_ELEMENT(s).key("node").displayedName("N").commit()
    kb.INT64_ELEMENT(s).key("node.x").assignmentInternal().defaultValue(1).commit()
    row = kb.Schema()
    kb.INT32_ELEMENT(row).key("a").assignmentOptional().defaultValue(1).reconfigurable().commit()
    kb.TABLE_ELEMENT(s).key("table").setColumns(row).assignmentOptional().defaultValue([]) \
        .reconfigurable().commit()
    kb.TABLE_ELEMENT(s).key("rows").setColumns(row).minSize(1).maxSize(2).assignmentOptional() \
        .defaultValue([kb.Hash("a", 1)]).reconfigurable().commit()
    kb.NDARRAY_ELEMENT(s).key("arr").dtype(kb.Types.FLOAT).shape([10]).commit()
    kb.SLOT_ELEMENT(s).key("start").allowedStates(State.OFF).commit()
    kb.BOOL_ELEMENT(s).key("bb").readOnly().initialValue(True).commit()
    data = kb.Schema()
    kb.INT32_ELEMENT(data).key("count").readOnly().commit()
    kb.OUTPUT_CHANNEL(s).key("output").dataSchema(data).commit()
    kb.INPUT_CHANNEL(s).key("input").commit()
    kb.STATE_ELEMENT(s).key("state").commit()
    kb.ALARM_ELEMENT(s).key("alarmCondition").commit()
    return s


def overwritten_schema():
    """``bound_schema()`` after a derived class's OVERWRITE_ELEMENTs (mirrored in tests/schema/test_overwrite.py)."""
    from karabo.common.states import State

    s = bound_schema()
    kb.OVERWRITE_ELEMENT(s).key("state").setNewOptions(State.ON, State.OFF).setNewDefaultValue(State.OFF).commit()
    kb.OVERWRITE_ELEMENT(s).key("i32").setNewDisplayedName("Gain").setNewDescription("new").setNewMinInc(-5) \
        .setNewMaxExc(50).setNewDefaultValue(-1).setNowExpertAccess().setNowInit().setNewTags(["x", "y"]).commit()
    kb.OVERWRITE_ELEMENT(s).key("init").setNewOptions("a,b,c").setNewDefaultValue("c").setNowReconfigurable() \
        .setNewAllowedStates(State.ON).commit()
    # a numpy float32: karabind types a plain float DOUBLE, whatever the element's type
    kb.OVERWRITE_ELEMENT(s).key("mand").setNewAssignmentOptional().setNewDefaultValue(np.float32(2.5)) \
        .setNowReadOnly().commit()
    kb.OVERWRITE_ELEMENT(s).key("d").setNewUnit(kb.Schema.AMPERE).setNewMetricPrefix(kb.Schema.MICRO) \
        .setNowObserverAccess().commit()
    kb.OVERWRITE_ELEMENT(s).key("vec").setNewMinSize(2).setNewMaxSize(3).commit()
    kb.OVERWRITE_ELEMENT(s).key("node.x").setNewAssignmentMandatory().commit()
    kb.OVERWRITE_ELEMENT(s).key("start").setNewAllowedStates(State.ON, State.ERROR).commit()
    return s


def overwrite_errors():
    """The errors of overwrites Karabo refuses, one a line (first line of each message)."""
    from karabo.common.states import State

    attempts = [
        lambda s: kb.OVERWRITE_ELEMENT(s).key("state").setNewDisplayedName("x").commit(),
        lambda s: kb.OVERWRITE_ELEMENT(s).key("nope").commit(),
        lambda s: kb.OVERWRITE_ELEMENT(s).key("table").setNewMinInc(1).commit(),
        lambda s: kb.OVERWRITE_ELEMENT(s).key("init").setNewOptions(State.ON).commit(),
        lambda s: kb.OVERWRITE_ELEMENT(s).key("state").setNewOptions("ON,OFF").commit(),
        lambda s: kb.OVERWRITE_ELEMENT(s).key("alarmCondition").setNewOptions(State.ON).commit(),
        lambda s: kb.OVERWRITE_ELEMENT(s).key("state").setNowReconfigurable().commit(),
    ]
    out = []
    for attempt in attempts:
        try:
            attempt(bound_schema())
            out.append(None)
        except Exception as e:  # noqa: BLE001 - the message is the data
            out.append(str(e).splitlines()[0])
    return out


def accepts(descriptor, value):
    """Whether a middlelayer descriptor's check lets ``value`` through."""
    try:
        descriptor.check(value)
        return True
    except Exception:  # noqa: BLE001 - KaraboError, or whatever the descriptor raises
        return False


def encode_schema(schema):
    if kn is not None and isinstance(schema, kn.Schema):
        return bytes(kn.encodeBinary(kn.Hash("s", schema)))
    return bytes(_ser.save(kb.Hash("s", schema)))


def load_schema(b64):
    return _ser.load(base64.b64decode(b64))["s"]


def rules_of(spec):
    rules = kb.ValidatorValidationRules()
    for name, value in spec.items():
        setattr(rules, name, value)
    return rules


def plain(value):
    """A JSON-able form of an attribute value."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [plain(x) for x in value]
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    return str(value)


def describe(schema):
    """What karabind's Schema methods say about every path."""
    out = {}
    h = schema.getParameterHash()
    for path in schema.getPaths():
        info = {"attrs": {n.getKey(): [plain(n.getValue()) if n.getKey() != "rowSchema" else None,
                                       str(n.getType()).split(".")[-1]]
                          for n in h.getAttributes(path)}}
        info["isCommand"] = schema.isCommand(path)
        info["isLeaf"] = schema.isLeaf(path)
        if schema.isLeaf(path):
            info["valueType"] = str(schema.getValueType(path)).split(".")[-1]
            info["accessMode"] = int(h.getAttribute(path, "accessMode"))
            info["assignment"] = str(schema.getAssignment(path)).split(".")[-1]
            info["hasDefaultValue"] = schema.hasDefaultValue(path)
        info["requiredAccessLevel"] = str(schema.getRequiredAccessLevel(path)).split(".")[-1]
        if schema.hasAllowedStates(path):
            info["allowedStates"] = [str(s.name) for s in schema.getAllowedStates(path)]
        if schema.hasUnit(path):
            info["unit"] = str(schema.getUnitSymbol(path))
        out[path] = info
    return out


print(json.dumps({"ready": caps}), flush=True)
for line in sys.stdin:
    request = json.loads(line)
    try:
        op = request["op"]
        if op == "schema":
            schema = {"mdl": mdl_schema, "bound": bound_schema,
                      "overwritten": overwritten_schema}[request["api"]]()
            reply = {"data": base64.b64encode(encode_schema(schema)).decode()}
        elif op == "regex":
            string = kn.RegexString(regex=request["regex"])
            vector = kn.VectorRegexString(regex=request["regex"])
            reply = {"string": [accepts(string, v) for v in request["values"]],
                     "vector": [accepts(vector, v) for v in request["vectors"]]}
        elif op == "overwrite_errors":
            reply = {"errors": overwrite_errors()}
        elif op == "validate":
            schema = load_schema(request["schema"])
            config = _ser.load(base64.b64decode(request["config"]))
            ok, message, result = kb.Validator(rules_of(request["rules"])).validate(schema, config)
            reply = {"ok": bool(ok), "message": message,
                     "result": base64.b64encode(bytes(_ser.save(result))).decode() if ok else None}
        elif op == "read":
            schema = load_schema(request["schema"])
            reply = {"paths": describe(schema), "rootName": schema.getRootName(),
                     "roundtrip": base64.b64encode(bytes(_ser.save(kb.Hash("s", schema)))).decode()}
        else:
            reply = {"error": f"unknown op {op!r}"}
    except Exception as e:  # the peer's failure is the test's data, not a crash of the peer
        reply = {"error": f"{type(e).__name__}: {e}"}
    print(json.dumps(reply), flush=True)
