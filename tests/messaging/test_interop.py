"""Messages checked by real Karabo 3 (karabo.native): framing, header key types, and identical header bytes."""

import json
import subprocess

import pytest

from pykarabo import Hash
from pykarabo.signalslot import encodeMessage, makeBody, makeHeader
from tests.karabo_env import require_karabo_python

pytestmark = pytest.mark.karabo

# Run by Karabo's interpreter: decode our concatenated message the way Karabo's broker clients do
# (decodeBinaryPos for the header, decodeBinary for the rest) and re-encode an equal header natively.
SCRIPT = r"""
import json, sys
import numpy as np
from karabo.native import Hash, decodeBinary, decodeBinaryPos, encodeBinary, get_hash_type_from_data
out = []
for msg in json.load(sys.stdin):
    data = bytes.fromhex(msg)
    header, end = decodeBinaryPos(data)
    body = decodeBinary(data[end:])
    native = Hash()
    for key in header:
        value = header[key]
        native[key] = np.int64(value) if key == "MQTimestamp" else value
    out.append({
        "header": [[k, get_hash_type_from_data(header[k]).name, str(header[k])] for k in header],
        "body": [[k, str(body[k])] for k in body],
        "nativeHeader": encodeBinary(native).hex(),
    })
json.dump(out, sys.stdout)
"""


def test_karabo_native_reads_our_messages_and_encodes_the_same_header():
    python = require_karabo_python()
    messages = [
        (makeHeader("dev/A", timestampMs=1_700_000_000_123), makeBody([1, "x"])),
        (makeHeader("dev/A", replyTo="dev/A-00ff", timestampMs=5), makeBody([Hash("k", 2.5)])),
        (makeHeader("B", replyFrom="dev/A-00ff", error=True, timestampMs=6), makeBody(["boom", "trace"])),
        (makeHeader("B", replyFunction="slotGot", timestampMs=7), makeBody([])),
    ]
    encoded = [encodeMessage(h, b) for h, b in messages]
    proc = subprocess.run([python, "-c", SCRIPT], input=json.dumps([(h + b).hex() for h, b in encoded]),
                          capture_output=True, text=True, timeout=60)
    if proc.returncode:
        pytest.skip(f"karabo.native unusable: {proc.stderr.strip().splitlines()[-1:]}")
    results = json.loads(proc.stdout)
    assert results[0]["header"] == [["signalInstanceId", "String", "dev/A"], ["MQTimestamp", "Int64", "1700000000123"]]
    assert results[0]["body"] == [["a1", "1"], ["a2", "x"]]
    assert [k for k, *_ in results[1]["header"]] == ["signalInstanceId", "replyTo", "MQTimestamp"]
    assert results[2]["header"][1:3] == [["replyFrom", "String", "dev/A-00ff"], ["error", "Bool", "True"]]
    assert results[2]["body"] == [["a1", "boom"], ["a2", "trace"]]
    assert results[3]["header"][1] == ["replyFunction", "String", "slotGot"] and results[3]["body"] == []
    for (header, _), result in zip(encoded, results):
        assert bytes.fromhex(result["nativeHeader"]) == header
