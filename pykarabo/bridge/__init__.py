"""Karabo Bridge services: a server fed by Python or pipeline inputs, a simulator, record/replay.

The protocol itself (``serialize``/``deserialize``, ``Client``) lives in ``pykarabo_bridge``.
"""

from pykarabo.bridge.pipeline import PipelineBridge, hash_to_dict
from pykarabo.bridge.server import BridgeServer

__all__ = ["BridgeServer", "PipelineBridge", "hash_to_dict"]
