"""Karabo pipeline channels, usable standalone (no broker, no device) from threads or asyncio.

Threads (blocking)::

    from pykarabo.pipeline import OutputChannel, InputChannel, END_OF_STREAM
    out = OutputChannel(port=0)                       # listens on 127.0.0.1
    inp = InputChannel([out.connectionInfo], onSlowness="wait")
    out.waitForInputs(1, timeout=5)
    out.write(Hash("image", array), timestamp=(sec, frac, trainId)); out.update()
    out.signalEndOfStream()
    for data, meta in inp:                            # stops at the end-of-stream
        print(meta.source, meta.trainId, data["image"].shape)

asyncio: the same names in ``pykarabo.pipeline.aio`` (``await out.start()``, ``await out.update()``,
``async for data, meta in inp``).  Received arrays are views into pooled buffers, which are reused
once the data are no longer referenced.  A threaded input given a connection info with
``memoryLocation`` "local" for an output of the same process gets the items in memory (arrays
shared unless the writer asked for ``copyAllData``), as Karabo's in-process shortcut.
"""

from pykarabo._core.pipeline import (DEFAULT_MAX_QUEUE_LENGTH, END_OF_STREAM, POLICIES, BufferPool, EndOfStream,
                                     InputCore, MetaData, OutputCore, ProtocolError, defaultPool)
from pykarabo.net import connectionInfo
from pykarabo.net import pipeline_asyncio as aio
from pykarabo.net.pipeline_threads import InputChannel, OutputChannel

__all__ = [
    "BufferPool", "DEFAULT_MAX_QUEUE_LENGTH", "END_OF_STREAM", "EndOfStream", "InputChannel", "InputCore",
    "MetaData", "OutputChannel", "OutputCore", "POLICIES", "ProtocolError", "aio", "connectionInfo",
    "defaultPool",
]
