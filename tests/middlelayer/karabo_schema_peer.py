"""Runs under the real Karabo's Python 3.12: checks our device schemas with Karabo's C++ Schema and Validator.

Each stdin line is ``{"data": <base64 of a binary Hash>}`` holding ``schema`` (a Schema) and configurations
``good`` and ``bad``; the reply line has the schema's paths and the C++ Validator's verdict on each
configuration, ``[ok, message]``. The first line written is ``{"ready": ["cpp"]}`` (or ``[]``).
"""

import base64
import json
import sys

try:
    import karabind
except ImportError:
    karabind = None

print(json.dumps({"ready": ["cpp"] if karabind else []}), flush=True)
for line in sys.stdin:
    try:
        serializer = karabind.BinarySerializerHash.create("Bin")
        h = serializer.load(base64.b64decode(json.loads(line)["data"]))
        schema = h["schema"]
        validator = karabind.Validator()
        reply = {"paths": list(schema.getPaths())}
        for name in ("good", "bad"):
            ok, message = validator.validate(schema, h[name])[:2]
            reply[name] = [bool(ok), message]
    except Exception as e:  # the peer's failure is the test's data, not a crash of the peer
        reply = {"error": f"{type(e).__name__}: {e}"}
    print(json.dumps(reply), flush=True)
