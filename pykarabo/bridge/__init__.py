"""Karabo Bridge services: a server fed by Python or pipeline inputs, a simulator, record/replay.

The protocol itself (``serialize``/``deserialize``, ``Client``) lives in ``pykarabo_bridge``.
Pipeline items are turned into trains by ``TrainMatcher`` (no I/O), served standalone by
``PipelineBridge`` (threads) or by the bridge devices, ``pykarabo.bridge.mdl_device.PipeToZeroMQ``
(middlelayer) and ``pykarabo.bridge.bound_device.BoundPipeToZeroMQ`` (bound), which share
``BridgeService``.  The device modules are not imported here: each pulls in its device API.
"""

from pykarabo.bridge.matcher import TrainMatcher, hash_to_dict
from pykarabo.bridge.pipeline import PipelineBridge
from pykarabo.bridge.server import BridgeServer
from pykarabo.bridge.service import BridgeService

__all__ = ["BridgeServer", "BridgeService", "PipelineBridge", "TrainMatcher", "hash_to_dict"]
