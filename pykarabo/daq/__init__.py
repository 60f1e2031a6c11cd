"""DAQ: write European XFEL run directories (EXDF HDF5) and map Hashes to HDF5."""

from pykarabo.daq.hdf5hash import load_hash, save_hash
from pykarabo.daq.runwriter import DaqError, RunWriter, WriterStats, recover_run

__all__ = ["DaqError", "RunWriter", "WriterStats", "load_hash", "recover_run", "save_hash"]
