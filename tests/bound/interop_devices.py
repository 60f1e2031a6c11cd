"""One source text for the bound devices of the interop test, built on either API.

``deviceClasses(bound)`` takes the module ``karabo.bound`` (in Karabo's Python, see karabo_bound_peer.py) or
``pykarabo.bound`` (in the test process) and returns ``(InteropSource, InteropSink)``: that a device written for
Karabo's bound API runs on ours unchanged is part of what the test shows.

``InteropSource`` sends ``trains`` trains through ``output`` when its ``send`` slot is called, then the end of
the stream; item ``i`` carries ``trainData(deviceId, scale, i)`` with train id ``firstTrain + i`` in its
timestamp.  ``InteropSink`` keeps, as JSON in its read-only ``received`` property, every item's values, Karabo
types, array dtype and shape, source and train id; ``ends`` counts the ends of stream.
"""

import json

import numpy as np


def trainData(deviceId: str, scale: float, i: int, firstTrain: int) -> dict:
    """The plain values of item ``i`` (what the sink's record must show)."""
    return {"image": ((np.arange(12, dtype=np.float32).reshape(3, 4) + i) * np.float32(scale)).tolist(),
            "counter": i, "value": scale * i, "name": f"{deviceId} #{i}", "flag": i % 2 == 0,
            "big": (firstTrain + i) * 2**33}


def deviceClasses(bound):
    """The two device classes on the bound API module ``bound``."""
    Types = bound.Types

    def dataSchema():
        data = bound.Schema()
        (bound.NDARRAY_ELEMENT(data).key("image").dtype(Types.FLOAT).shape("3,4").commit(),
         bound.INT32_ELEMENT(data).key("counter").readOnly().commit(),
         bound.DOUBLE_ELEMENT(data).key("value").readOnly().commit(),
         bound.STRING_ELEMENT(data).key("name").readOnly().commit(),
         bound.BOOL_ELEMENT(data).key("flag").readOnly().commit(),
         bound.UINT64_ELEMENT(data).key("big").readOnly().commit())
        return data

    @bound.KARABO_CLASSINFO("InteropSource", "1.0")
    class InteropSource(bound.PythonDevice):
        @staticmethod
        def expectedParameters(expected):
            (bound.UINT32_ELEMENT(expected).key("trains").assignmentOptional().defaultValue(3).reconfigurable()
             .commit(),
             bound.UINT64_ELEMENT(expected).key("firstTrain").assignmentOptional().defaultValue(1000)
             .reconfigurable().commit(),
             bound.DOUBLE_ELEMENT(expected).key("scale").assignmentOptional().defaultValue(1.0).minInc(0.0)
             .reconfigurable().commit(),
             bound.UINT32_ELEMENT(expected).key("trainsSent").readOnly().initialValue(0).commit(),
             bound.SLOT_ELEMENT(expected).key("send").commit(),
             bound.OUTPUT_CHANNEL(expected).key("output").dataSchema(dataSchema()).commit())

        def __init__(self, configuration):
            super().__init__(configuration)
            self.registerSlot(self.send)

        def send(self):
            first, scale = self.get("firstTrain"), self.get("scale")
            for i in range(self.get("trains")):
                values = trainData(self.getInstanceId(), scale, i, first)
                data = bound.Hash("image", np.array(values["image"], dtype=np.float32), "counter", i,
                                  "value", values["value"], "name", values["name"], "flag", values["flag"])
                data.setAs("big", values["big"], Types.UINT64)
                stamp = bound.Timestamp(bound.Epochstamp(), bound.TimeId(first + i))
                self.writeChannel("output", data, stamp)
                self.set("trainsSent", self.get("trainsSent") + 1)   # the validator makes it a UINT32
            self.signalEndOfStream("output")

    @bound.KARABO_CLASSINFO("InteropSink", "1.0")
    class InteropSink(bound.PythonDevice):
        @staticmethod
        def expectedParameters(expected):
            (bound.STRING_ELEMENT(expected).key("received").readOnly().initialValue("[]").commit(),
             bound.INT32_ELEMENT(expected).key("ends").readOnly().initialValue(0).commit(),
             bound.INPUT_CHANNEL(expected).key("input").commit())

        def __init__(self, configuration):
            super().__init__(configuration)
            self.items = []
            self.KARABO_ON_DATA("input", self.onData)
            self.KARABO_ON_EOS("input", self.onEndOfStream)

        def onData(self, data, meta):
            image = data["image"]
            item = {key: data[key] for key in ("counter", "value", "name", "flag", "big")}
            item.update(image=image.tolist(), dtype=str(image.dtype), shape=list(image.shape),
                        types={key: data.getType(key).name for key in ("counter", "value", "name", "flag", "big")},
                        source=meta["source"],
                        trainId=bound.Timestamp.fromHashAttributes(meta.getAttributes("timestamp")).getTid())
            self.items.append(item)
            self.set("received", json.dumps(self.items))

        def onEndOfStream(self, channel):
            self.set("ends", self.get("ends") + 1)

    return InteropSource, InteropSink
