"""How every kernel of the package is compiled: once per machine, into a per-user on-disk cache.

Numba's cache (``cache=True``) loads a compiled kernel in a later process
instead of compiling it again, but only for functions defined at module level
(a kernel built inside a factory gets a new cache entry in every process). So
every kernel here is a module-level function, and what used to be a closure
variable (the metric's elementwise rule, a flag) is an argument it branches on.

The cache lives in ``$GPUMETRICS_CACHE_DIR`` if set, else
``$XDG_CACHE_HOME/gpumetrics`` (``~/.cache/gpumetrics``): per user, so a
read-only site-packages is no obstacle. Only this package's kernels go there;
the caller's own Numba functions keep Numba's rules. Where that directory
cannot be written, Numba's own locations are used.

CPU kernels come in two builds of one source: ``serial`` (``prange`` runs as
``range``, no worker threads) and ``parallel``. :func:`cpu_builds` makes both;
the launchers run the serial build below :data:`PARALLEL_CUTOVER` elements.
"""
import functools
import hashlib
import os
import pathlib
import types

import numba
from numba.core import caching

#: the environment variable that moves the kernel cache.
CACHE_ENV = "GPUMETRICS_CACHE_DIR"
#: the package whose functions use this cache (``gpumetrics._kernels``).
KERNELS_PACKAGE = __name__.rsplit(".", 2)[0]
#: elements below which a CPU launcher runs the serial build: up to two 32,768-element chunks, the parallel build
#: gains nothing, and a worker that shares its core with another process can only delay the call. Measured on 2
#: cores (bench/README.md, "CPU threads"): with TBB the parallel build wins from 65,536 elements on when the other
#: core is idle and matches the serial build when it is busy.
PARALLEL_CUTOVER = 1 << 16
_FLAGS = {"cache": True, "nogil": True, "error_model": "numpy"}


def cache_dir():
    """Where compiled kernels are kept: ``$GPUMETRICS_CACHE_DIR``, else ``$XDG_CACHE_HOME/gpumetrics``."""
    root = os.environ.get(CACHE_ENV)
    if not root:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = os.path.join(base, "gpumetrics")
    return os.path.join(root, f"numba-{numba.__version__}")


@functools.cache
def sources_stamp():
    """One stamp of every kernel source file (path, mtime, size): a kernel inlines rules from other files, and
    Numba checks only the kernel's own file, so any change anywhere under the kernels package invalidates all."""
    root = pathlib.Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        stat = path.stat()
        digest.update(f"{path.relative_to(root)}:{stat.st_mtime_ns}:{stat.st_size};".encode())
    return digest.hexdigest()


class KernelCacheLocator(caching.UserProvidedCacheLocator):
    """Numba cache locator for this package's kernels alone: ``cache_dir()`` / one folder per source folder,
    stale as soon as any kernel source changes."""

    def __init__(self, py_func, py_file):
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        self._cache_path = os.path.join(cache_dir(), self.get_suitable_cache_subpath(py_file))

    def get_source_stamp(self):
        return sources_stamp()

    @classmethod
    def from_function(cls, py_func, py_file):
        if not getattr(py_func, "__module__", "").startswith(KERNELS_PACKAGE + "."):
            return None
        return caching._SourceFileBackedLocatorMixin.from_function.__func__(cls, py_func, py_file)


def install_locator(impl=caching.CacheImpl):
    """Put ``KernelCacheLocator`` first in the locator list of a Numba cache implementation (and of its bases
    that keep their own list): the CPU one here, numba-cuda's from the CUDA launch module."""
    for cls in impl.__mro__:
        classes = vars(cls).get("_locator_classes")
        if classes is not None and KernelCacheLocator not in classes:
            classes.insert(0, KernelCacheLocator)


install_locator()


def _load_tbb():
    """Make the TBB runtime of the ``tbb`` wheel loadable, so that Numba's default threading layer choice (TBB
    first) finds it: TBB balances chunks dynamically, so a worker thread that shares its core with another process
    costs its share of the work, not a stall of the whole call (the OpenMP and workqueue layers split the work
    statically and wait for the slowest thread). The layer stays Numba's choice: ``NUMBA_THREADING_LAYER`` wins."""
    import ctypes
    import sys

    for prefix in dict.fromkeys((sys.prefix, sys.base_prefix)):
        library = os.path.join(prefix, "lib", "libtbb.so.12")
        if os.path.exists(library):
            try:
                ctypes.CDLL(library, mode=ctypes.RTLD_GLOBAL)
            except OSError:
                continue
            return


_load_tbb()


def _renamed(fn, suffix):
    """A copy of ``fn`` under another qualified name: Numba keys cache files by name, so two builds of one source
    must not share one."""
    copy = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__ + suffix, fn.__defaults__, fn.__closure__)
    copy.__qualname__ = fn.__qualname__ + suffix
    copy.__doc__ = fn.__doc__
    return copy


class CpuBuilds:
    """The serial and parallel builds of one CPU kernel source, and the rule that picks one per call."""

    def __init__(self, fn):
        self.serial = numba.njit(parallel=False, **_FLAGS)(fn)
        self.parallel = numba.njit(parallel=True, **_FLAGS)(_renamed(fn, "_parallel"))

    def for_size(self, elements):
        """The build for a call over ``elements`` elements (serial below ``PARALLEL_CUTOVER``)."""
        return self.serial if elements < PARALLEL_CUTOVER else self.parallel

    @property
    def dispatchers(self):
        return self.serial, self.parallel


def cpu_builds(fn):
    """Decorator: ``fn`` (a module-level function using ``numba.prange``) as :class:`CpuBuilds`."""
    return CpuBuilds(fn)


def cpu_function(fn):
    """Decorator for a CPU helper called from kernels (or on its own): ``njit`` with the package's cache."""
    return numba.njit(**_FLAGS)(fn)
