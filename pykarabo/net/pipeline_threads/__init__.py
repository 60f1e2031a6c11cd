"""Pipeline channels over blocking sockets and threads (the bound API's transport).

Socket reads and gather-writes release the GIL; every protocol decision is taken by the
sans-I/O cores of ``pykarabo._core.pipeline`` under one lock per channel.  With the GIL and
few cores, thread hand-overs cost more than small items: the thread that receives a message
acts on it itself (an input's reader runs the handlers; a producer waiting for its single
input reads that input's requests), and condition variables are only notified when someone
waits on them.

An input whose connection info says memoryLocation "local" (Karabo's mark for an output of the
same process; ``KARABO_NO_PIPELINE_SHORTCUT`` turns it off) and whose output really is one of this
process takes the chunks as items handed over in memory: no serialization, no loopback copies.
The TCP connection still carries hello and updates, so readiness and the policies are unchanged.
"""

from .input import InputChannel
from .output import OutputChannel

__all__ = ["InputChannel", "OutputChannel"]
