"""DAQ: write European XFEL run directories (EXDF HDF5), match trains, map Hashes to HDF5.

The DAQ devices live in ``pykarabo.daq.mdl_device`` (``DaqWriter``, middlelayer) and
``pykarabo.daq.bound_device`` (``BoundDaqWriter``, bound API); import them from there.
"""

from pykarabo.daq.hdf5hash import load_hash, save_hash
from pykarabo.daq.recorder import Recorder
from pykarabo.daq.runwriter import DaqError, RunWriter, WriterStats, recover_run

__all__ = ["DaqError", "Recorder", "RunWriter", "WriterStats", "load_hash", "recover_run", "save_hash"]
