"""What every CPU twin does to its inputs before Numba reads them."""
import numpy as np


def numba_readable(a):
    """Numba has no float16 on the CPU: widen it (one copy); every other dtype is read as is."""
    return a.astype(np.float32) if a.dtype == np.float16 else a
