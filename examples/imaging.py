"""A simulated camera, an image averager and an acquisition macro: a middlelayer pipeline in the style of
Karabo's camera-simulator and image-processing devices.

``SimulatedCamera`` acquires in a background task (ACQUIRING between ``start`` and ``stop``) and writes
frames to its ``output``; ``ImageAverager`` reads them on its ``input``, publishes the running mean and
writes the averaged frame to its own ``output``; ``AcquisitionMacro`` drives both and prints its progress.
On a server (from the repository root)::

    pykarabo server --id imagingServer --plugins examples.imaging --init '{
        "SIM/CAM/1": {"classId": "SimulatedCamera"},
        "SIM/AVG/1": {"classId": "ImageAverager", "input.connectedOutputChannels": ["SIM/CAM/1:output"]},
        "SIM/ACQ/1": {"classId": "AcquisitionMacro"}}'
"""

from __future__ import annotations

import numpy as np

from pykarabo.middlelayer import (AccessMode, Configurable, Device, Double, InputChannel, Macro, NDArray,
                                  OutputChannel, Overwrite, Slot, State, String, UInt16, UInt32, Unit,
                                  background, connectDevice, setWait, sleep, waitUntil)

HEIGHT, WIDTH = 32, 48


class Frame(Configurable):
    """What travels on the pipeline: the pixels and the frame's number."""

    image = NDArray(dtype=UInt16, shape=(HEIGHT, WIDTH), displayedName="Image")
    frameNumber = UInt32(displayedName="Frame number", defaultValue=0)


class SimulatedCamera(Device):
    """Noisy frames around a gaussian spot whose height is ``signal``, at ``frameRate`` while ACQUIRING."""

    __version__ = "1.0"

    state = Overwrite(options=[State.UNKNOWN, State.ON, State.ACQUIRING])
    frameRate = Double(displayedName="Frame rate", unitSymbol=Unit.HERTZ, defaultValue=50.0, minExc=0.0,
                       maxInc=1000.0, allowedStates=[State.ON])
    signal = Double(displayedName="Signal", description="Height of the spot in counts", defaultValue=1000.0,
                    minInc=0.0, maxInc=60000.0)
    framesSent = UInt32(displayedName="Frames sent", accessMode=AccessMode.READONLY, defaultValue=0)
    output = OutputChannel(Frame, displayedName="Output")

    @Slot(displayedName="Start", allowedStates=[State.ON])
    async def start(self):
        """Start acquiring."""
        self.state = State.ACQUIRING
        self._acquisition = background(self._acquire())

    @Slot(displayedName="Stop", allowedStates=[State.ACQUIRING])
    async def stop(self):
        """Stop acquiring and tell the readers that the stream ended."""
        self._acquisition.cancel()
        self.state = State.ON
        await self.output.writeEndOfStream()

    async def _acquire(self):
        rows, columns = np.mgrid[0:HEIGHT, 0:WIDTH]
        spot = np.exp(-((rows - HEIGHT / 2) ** 2 + (columns - WIDTH / 2) ** 2) / 50.0)
        noise = np.random.default_rng()
        while True:
            frame = self.signal.value * spot + noise.normal(100.0, 5.0, spot.shape)
            self.output.schema.image = np.clip(frame, 0, 65535).astype(np.uint16)
            self.output.schema.frameNumber = self.framesSent.value
            await self.output.writeData()
            self.framesSent = self.framesSent.value + 1
            await sleep(1.0 / self.frameRate.value)

    async def onInitialization(self):
        self._acquisition = None
        self.state = State.ON


class ImageAverager(Device):
    """Averages the last ``nFrames`` frames of its input; an end of stream starts a new average."""

    __version__ = "1.0"

    nFrames = UInt32(displayedName="Frames to average", defaultValue=10, minInc=1, maxInc=1000)
    framesAveraged = UInt32(displayedName="Frames averaged", accessMode=AccessMode.READONLY, defaultValue=0)
    meanIntensity = Double(displayedName="Mean intensity", accessMode=AccessMode.READONLY, defaultValue=0.0)
    lastFrame = UInt32(displayedName="Last frame number", accessMode=AccessMode.READONLY, defaultValue=0)
    streamsEnded = UInt32(displayedName="Streams ended", accessMode=AccessMode.READONLY, defaultValue=0)
    output = OutputChannel(Frame, displayedName="Averaged output")

    @InputChannel(displayedName="Input")
    async def input(self, data, meta):
        self._frames.append(data.image.value.astype(np.float64))
        del self._frames[:-self.nFrames.value]
        average = np.mean(self._frames, axis=0)
        self.framesAveraged = len(self._frames)
        self.meanIntensity = float(average.mean())
        self.lastFrame = data.frameNumber.value
        self.output.schema.image = average.astype(np.uint16)
        self.output.schema.frameNumber = data.frameNumber.value
        await self.output.writeData(meta.timestamp)   # the average keeps the train of its newest frame

    @input.endOfStream
    async def input(self, name):
        self._frames.clear()
        self.framesAveraged = 0
        self.streamsEnded = self.streamsEnded.value + 1

    async def onInitialization(self):
        self._frames = []
        self.state = State.ON


class AcquisitionMacro(Macro):
    """Acquires until the averager has ``frames`` frames, then stops the camera and reports the mean."""

    __version__ = "1.0"

    cameraId = String(displayedName="Camera", defaultValue="SIM/CAM/1")
    averagerId = String(displayedName="Averager", defaultValue="SIM/AVG/1")
    frames = UInt32(displayedName="Frames", defaultValue=5, minInc=1)
    result = Double(displayedName="Mean intensity", accessMode=AccessMode.READONLY, defaultValue=0.0)

    @Slot(displayedName="Acquire")
    async def acquire(self):
        """Run one acquisition."""
        camera = await connectDevice(self.cameraId.value)
        averager = await connectDevice(self.averagerId.value)
        wanted = self.frames.value
        await setWait(averager, nFrames=wanted)
        print(f"acquiring {wanted} frames from {camera.deviceId}")
        await camera.start()
        try:
            await waitUntil(lambda: averager.framesAveraged >= wanted, timeout=30)
        finally:
            await camera.stop()
        self.result = averager.meanIntensity.value
        print(f"done: mean intensity {self.result.value:.1f} after frame {averager.lastFrame.value}")
