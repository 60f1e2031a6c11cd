"""Runs under the real Karabo's Python 3.12: decodes and re-encodes Hashes on request.

One JSON request per stdin line, ``{"impl": "cpp" | "native", "data": <base64>}``; one JSON reply
per line, ``{"data": <base64>}`` with Karabo's re-encoding of what it decoded, or
``{"error": "..."}``.  The first line written is ``{"ready": [impls available]}``.
"""

import base64
import json
import sys

codecs = {}
try:
    from karabind import BinarySerializerHash

    _cpp = BinarySerializerHash.create("Bin")
    codecs["cpp"] = lambda data: bytes(_cpp.save(_cpp.load(data)))
except ImportError:
    pass
try:
    from karabo.native import decodeBinary, encodeBinary

    codecs["native"] = lambda data: bytes(encodeBinary(decodeBinary(data)))
except ImportError:
    pass

print(json.dumps({"ready": sorted(codecs)}), flush=True)
for line in sys.stdin:
    request = json.loads(line)
    try:
        out = codecs[request["impl"]](base64.b64decode(request["data"]))
        reply = {"data": base64.b64encode(out).decode()}
    except Exception as e:  # the peer's failure is the test's data, not a crash of the peer
        reply = {"error": f"{type(e).__name__}: {e}"}
    print(json.dumps(reply), flush=True)
