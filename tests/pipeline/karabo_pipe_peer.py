"""A real Karabo C++ pipeline channel (karabind, no broker) for interop tests; run with Karabo's Python.

``output PORT N SHAPE DTYPE [NO_INPUT_SHARED [INPUT_IDS]]`` serves N trains once told (a line on
stdin) and the inputs named (comma-separated) registered, then end-of-stream;
``input HOST PORT POLICY DISTRIBUTION [DEVICE]`` receives until end-of-stream; ``n_to_1 HOST PORT N``
receives from that output and from its own C++ output, which serves N trains once told.  All print
JSON lines.
Payload convention: image of train t = (arange(prod(shape)) + t) % 251.
"""

import json
import os
import sys
import threading
import time
import zlib

import numpy as np
import karabind as k


_emit_lock = threading.Lock()


def emit(obj):
    line = json.dumps(obj) + "\n"
    with _emit_lock:                 # handlers run on C++ threads: one whole line at a time
        sys.stdout.write(line)
        sys.stdout.flush()


def registered(out, ids):
    """Wait (up to 10 s) until the output handled the hello of every input in ``ids``."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not all(
            out.hasRegisteredCopyInputChannel(i) or out.hasRegisteredSharedInputChannel(i) for i in ids):
        time.sleep(0.01)            # connected is not registered: the hello is handled asynchronously


def output(port, n, shape, dtype, no_input_shared="drop", input_ids=""):
    cfg = k.Hash()
    cfg.set("port", int(port))
    cfg.set("hostname", "127.0.0.1")
    cfg.set("noInputShared", no_input_shared)
    out = k.OutputChannel.create("kprod", "output", cfg)
    emit({"listening": int(out.getInformation()["port"])})
    sys.stdin.readline()            # the test says when its input is connected
    registered(out, [i for i in input_ids.split(",") if i])
    shape = tuple(int(x) for x in shape.split(","))
    for t in range(1000, 1000 + int(n)):
        h = k.Hash()
        h.set("image", ((np.arange(int(np.prod(shape)), dtype=np.uint64) + t) % 251).astype(dtype).reshape(shape))
        h.set("trainId", t)
        out.write(h, k.ChannelMetaData("kprod:output", k.Timestamp(k.Epochstamp(), k.TimeId(t))))
        out.update()
    out.signalEndOfStream()
    emit({"done": int(n)})
    sys.stdin.readline()


def input_(host, port, policy, distribution, device="kcons", own_output=None):
    cfg = k.Hash()
    cfg.set("connectedOutputChannels", ["ours:output"] + (["kprod:output"] if own_output else []))
    cfg.set("onSlowness", policy)
    cfg.set("dataDistribution", distribution)
    inp = k.InputChannel.create(device, "input", cfg)
    finished = threading.Event()

    def on_data(data, meta):
        image = np.asarray(data["image"])
        emit({"source": meta["source"], "trainId": int(meta.getAttribute("timestamp", "tid")),
              "shape": list(image.shape), "crc32": zlib.crc32(np.ascontiguousarray(image).tobytes())})

    inp.registerDataHandler(on_data)
    inp.registerEndOfStreamEventHandler(lambda _: finished.set())
    info = k.Hash()
    info.set("connectionType", "tcp")
    info.set("hostname", host)
    info.setAs("port", int(port), k.Types.UINT32)     # C++ reads the port strictly as UINT32
    info.set("memoryLocation", "remote")
    info.set("outputChannelString", "ours:output")
    emit({"connect": inp.connectSync(info)})
    if own_output is not None:
        own = own_output.getInformation()
        own.set("outputChannelString", "kprod:output")
        own.set("memoryLocation", "remote")
        emit({"connect": inp.connectSync(own)})
    return inp, finished            # the caller keeps the channel alive while it waits


def n_to_1(host, port, n):
    cfg = k.Hash()
    cfg.set("port", 0)
    cfg.set("hostname", "127.0.0.1")
    out = k.OutputChannel.create("kprod", "output", cfg)
    inp, finished = input_(host, port, "wait", "copy", "kcons", out)
    registered(out, ["kcons:input"])
    sys.stdin.readline()
    for t in range(1000, 1000 + int(n)):
        h = k.Hash()
        h.set("image", ((np.arange(16 * 8, dtype=np.uint64) + t) % 251).astype("uint16").reshape(16, 8))
        h.set("trainId", t)
        out.write(h, k.ChannelMetaData("kprod:output", k.Timestamp(k.Epochstamp(), k.TimeId(t))))
        out.update()
    out.signalEndOfStream()
    emit({"eos": finished.wait(20)})


def single_input(*args):
    inp, finished = input_(*args)
    emit({"eos": finished.wait(20)})


if __name__ == "__main__":
    threading.Thread(target=k.EventLoop.work, daemon=True).start()
    {"output": output, "input": single_input, "n_to_1": n_to_1}[sys.argv[1]](*sys.argv[2:])
    sys.stdout.flush()
    os._exit(0)          # the C++ event loop does not stop cleanly from Python
