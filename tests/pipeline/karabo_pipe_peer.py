"""A real Karabo C++ pipeline channel (karabind, no broker) for interop tests; run with Karabo's Python.

``output PORT N SHAPE DTYPE`` serves N trains after one input connected, then end-of-stream;
``input HOST PORT POLICY DISTRIBUTION [DEVICE]`` receives until end-of-stream.  Both print JSON lines.
Payload convention: image of train t = (arange(prod(shape)) + t) % 251.
"""

import json
import os
import sys
import threading
import zlib

import numpy as np
import karabind as k


def emit(obj):
    print(json.dumps(obj), flush=True)


def output(port, n, shape, dtype):
    cfg = k.Hash()
    cfg.set("port", int(port))
    cfg.set("hostname", "127.0.0.1")
    out = k.OutputChannel.create("kprod", "output", cfg)
    emit({"listening": int(out.getInformation()["port"])})
    sys.stdin.readline()            # the test says when its input is connected
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


def input_(host, port, policy, distribution, device="kcons"):
    cfg = k.Hash()
    cfg.set("connectedOutputChannels", ["ours:output"])
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
    emit({"eos": finished.wait(20)})


if __name__ == "__main__":
    threading.Thread(target=k.EventLoop.work, daemon=True).start()
    {"output": output, "input": input_}[sys.argv[1]](*sys.argv[2:])
    sys.stdout.flush()
    os._exit(0)          # the C++ event loop does not stop cleanly from Python
