"""The CUDA backend: CuPy state, Numba CUDA kernels; NumPy state and the same kernels in Numba's simulator.

Host inputs handed to a GPU metric are copied to the device (with one warning
per metric and argument, since that copy is the caller's to avoid); GPU inputs
are taken zero-copy on the caller's stream.
"""
import os

import numpy as np

from .._interop import cuda_array, host_array, location
from .base import Backend

INSTALL_HINT = (
    "device='cuda' needs an NVIDIA GPU with CuPy and numba-cuda: pip install 'gpumetrics[cuda12]' "
    "(or 'gpumetrics[cuda13]' for CUDA 13). To run the CUDA kernels without a GPU, set "
    "NUMBA_ENABLE_CUDASIM=1 before anything imports numba")


def _simulator_enabled():
    from numba import config

    return bool(config.ENABLE_CUDASIM) or os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"


def _copyable(array):
    """A host array CuPy copies faithfully: native byte order (CuPy does not keep a byte order) and no
    ``longdouble`` (which CuPy has no type for; read as float64, as the kernels read it on the host)."""
    dtype = array.dtype
    if dtype.kind == "f" and dtype.itemsize > 8:
        return array.astype(np.float64)
    if not dtype.isnative:
        return array.astype(dtype.newbyteorder("="))
    return array


class CudaBackend(Backend):
    name = "cuda"
    device = "cuda"

    def __init__(self):
        self.simulated = _simulator_enabled()
        if self.simulated:
            self.xp = np
        else:
            try:
                import cupy

                if cupy.cuda.runtime.getDeviceCount() < 1:
                    raise RuntimeError("no CUDA device")
                from numba import cuda

                if not cuda.is_available():
                    raise RuntimeError("numba cannot reach the CUDA driver")
            except Exception as error:  # ImportError, CUDARuntimeError, RuntimeError: all mean "no usable GPU"
                raise RuntimeError(f"{INSTALL_HINT} ({type(error).__name__}: {error})") from None
            self.xp = cupy
        from .._kernels.error_sums.cuda import error_sums
        from .._kernels.moments.cuda import merge_moments, moments
        from .._kernels.row_sums.cuda import row_sums
        from .._kernels.threshold_histogram.cuda import threshold_histogram
        from .._kernels.weighted_bincount.cuda import weighted_bincount

        self._error_sums = error_sums
        self._row_sums = row_sums
        self._threshold_histogram = threshold_histogram
        self._moments = moments
        self._merge_moments = merge_moments
        self._weighted_bincount = weighted_bincount

    def asarray(self, x, name):
        if self.simulated:
            return host_array(x, name)
        if location(x, name) == "cuda":
            return cuda_array(x, name)  # refuses an array on another GPU than the current one
        return self.xp.asarray(_copyable(host_array(x, name)))

    def needs_copy(self, x):
        """Whether ``x`` must be copied host → device before a kernel can read it."""
        return not self.simulated and location(x) != "cuda"

    def to_host(self, array):
        return np.array(array, copy=True) if self.simulated else self.xp.asnumpy(array)  # synchronize!

    def threshold_histogram(self, y_true, y_pred, weight, thresholds, bucketing, transform, out_pos, out_neg,
                            group_ids=None, out_other=None, extras=0):
        self._threshold_histogram(y_true, y_pred, weight, thresholds, bucketing, transform, out_pos, out_neg,
                                  group_ids, out_other, extras)

    def moments(self, x, y, weight, out, group_ids=None):
        self._moments(x, y, weight, out, group_ids)

    def merge_moments(self, array, other):
        self._merge_moments(array, other)

    def weighted_bincount(self, y_true, y_pred, weight, true_rule, pred_rule, threshold, ignore_class, out,
                          group_ids=None):
        self._weighted_bincount(y_true, y_pred, weight, true_rule, pred_rule, threshold, ignore_class, out, group_ids)
