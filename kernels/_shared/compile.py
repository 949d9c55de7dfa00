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
cannot be written (a warm cache built in an image for another user, a
read-only filesystem, a path that is a file), kernels are cached in a per-user
folder of the temporary directory instead, seeded with the unwritable cache's
files so that its kernels still load, with one warning; not in Numba's own
locations, which judge a kernel fresh by its own file alone (only when no
temporary folder can be written either). An unreadable
cache entry (a truncated or corrupted file) is a miss: compiled again and
rewritten, with a warning.

CPU kernels are serial functions that release the GIL; ``workers.py`` runs
them on several threads (no ``prange``: one compiled build per signature).
"""
import functools
import hashlib
import os
import pathlib
import shutil
import tempfile
import types
import warnings

import numba
from numba.core import caching

#: the environment variable that moves the kernel cache.
CACHE_ENV = "GPUMETRICS_CACHE_DIR"
#: the package whose functions use this cache (``gpumetrics._kernels``).
KERNELS_PACKAGE = __name__.rsplit(".", 2)[0]
_FLAGS = {"cache": True, "nogil": True, "error_model": "numpy"}


def cache_dir():
    """Where compiled kernels are kept: ``$GPUMETRICS_CACHE_DIR``, else ``$XDG_CACHE_HOME/gpumetrics``."""
    root = os.environ.get(CACHE_ENV)
    if not root:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = os.path.join(base, "gpumetrics")
    return os.path.join(root, f"numba-{numba.__version__}")


def _writable(path):
    """Whether ``path`` exists or can be made, and a file can be written in it."""
    try:
        os.makedirs(path, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
        return True
    except OSError:
        return False


@functools.cache
def writable_cache_dir():
    """Where kernels are cached in this process: ``cache_dir()`` when it can be written, else (one warning) a
    per-user folder of the temporary directory; None when neither can be written (Numba then refuses to cache)."""
    wanted = cache_dir()
    if _writable(wanted):
        return wanted
    user = os.getuid() if hasattr(os, "getuid") else os.environ.get("USERNAME", "user")
    fallback = os.path.join(tempfile.gettempdir(), f"gpumetrics-{user}", os.path.basename(wanted))
    usable = _writable(fallback)
    warnings.warn(f"gpumetrics: the kernel cache {wanted} cannot be written; "
                  + (f"kernels are cached in {fallback}, whose missing files are copied from {wanted} where it "
                     f"can be read (set {CACHE_ENV} to a writable folder to keep them)" if usable else
                     f"nor can {fallback}: set {CACHE_ENV} to a writable folder"), RuntimeWarning, stacklevel=2)
    return fallback if usable else None


def _seed(path, source):
    """Copy the files of ``source`` that ``path`` lacks (a read-only warm cache's entries of one kernel folder)."""
    try:
        names = os.listdir(source)
    except OSError:
        return
    for name in names:
        if not os.path.exists(os.path.join(path, name)):
            try:
                shutil.copy2(os.path.join(source, name), os.path.join(path, name))
            except OSError:
                pass  # a file that cannot be read is a miss: compiled again


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
    """Numba cache locator for this package's kernels alone: ``writable_cache_dir()`` / one folder per source
    folder, stale as soon as any kernel source changes."""

    def __init__(self, py_func, py_file):
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        self._subpath = self.get_suitable_cache_subpath(py_file)
        self._cache_path = os.path.join(writable_cache_dir(), self._subpath)

    def get_source_stamp(self):
        return sources_stamp()

    def ensure_cache_path(self):
        super().ensure_cache_path()
        if writable_cache_dir() != cache_dir():  # the fallback: seeded with what the wanted cache holds
            _seed(self._cache_path, os.path.join(cache_dir(), self._subpath))

    @classmethod
    def from_function(cls, py_func, py_file):
        if not getattr(py_func, "__module__", "").startswith(KERNELS_PACKAGE + "."):
            return None
        if writable_cache_dir() is None:  # not even a temporary folder: Numba's own rules
            return None
        return caching._SourceFileBackedLocatorMixin.from_function.__func__(cls, py_func, py_file)


def _tolerant(method, on_error):
    """A method of a Numba cache class (``load_overload``, ``save_overload``): as it is for other functions; for
    this package's kernels an exception goes to ``on_error(cache, error)`` and the call returns None (a miss;
    nothing saved), so a damaged or unwritable entry costs a compile, not the same error in every later process."""

    @functools.wraps(method)
    def call(self, *args):
        if not isinstance(getattr(getattr(self, "_impl", None), "locator", None), KernelCacheLocator):
            return method(self, *args)
        try:
            return method(self, *args)
        except Exception as error:  # an unpickling error can be of many types
            on_error(self, error)
            return None

    call.tolerant = True
    return call


def _unreadable(cache, error):
    """A truncated or corrupted index or data file (``EOFError``, ``UnpicklingError``, ...): warn, and remove the
    index so that the kernel compiled now starts a new one."""
    warnings.warn(f"gpumetrics: the cached kernel {cache._name} in {cache._cache_path} could not be read "
                  f"({type(error).__name__}: {error}); compiling it again", RuntimeWarning, stacklevel=3)
    try:
        os.remove(cache._cache_file._index_path)
    except (AttributeError, OSError):
        pass


def _unsaved(cache, error):
    """A kernel that cannot be written to the cache (a full disk, a folder gone) still runs, compiled here."""
    warnings.warn(f"gpumetrics: the compiled kernel {cache._name} could not be cached in {cache._cache_path} "
                  f"({type(error).__name__}: {error}); the next process compiles it again", RuntimeWarning,
                  stacklevel=3)


def install_locator(impl=caching.CacheImpl):
    """Put ``KernelCacheLocator`` first in the locator list of a Numba cache implementation (and of its bases
    that keep their own list): the CPU one here, numba-cuda's from the CUDA launch module."""
    for cls in impl.__mro__:
        classes = vars(cls).get("_locator_classes")
        if classes is not None and KernelCacheLocator not in classes:
            classes.insert(0, KernelCacheLocator)


def install_tolerance(cache_class):
    """Wrap ``load_overload`` / ``save_overload`` (``_tolerant``) wherever a Numba cache class or one of its bases
    defines them: Numba's CPU ``Cache`` here, numba-cuda's ``CUDACache`` (its own ``Cache`` base) from the CUDA
    launch module."""
    for cls in cache_class.__mro__:
        for name, on_error in (("load_overload", _unreadable), ("save_overload", _unsaved)):
            method = vars(cls).get(name)
            if method is not None and not getattr(method, "tolerant", False):
                setattr(cls, name, _tolerant(method, on_error))


install_locator()
install_tolerance(caching.Cache)


def cpu_function(fn):
    """Decorator for every CPU kernel and helper: ``njit`` with the package's cache, releasing the GIL (so that
    ``workers.run_items`` runs it on several threads at once)."""
    return numba.njit(**_FLAGS)(fn)


def specialized(fn, name, **names):
    """A copy of the plain function ``fn``, named ``name``, whose globals ``names`` are bound to the given objects:
    one loop written once and compiled by :func:`cpu_function` once per rule, with the rule a global that Numba
    inlines (passed as an argument, the rule forces the whole loop to be inlined into each caller instead: 0.25 s
    more on a first call). Each copy is cached under its own name; create it once every global it reads exists."""
    copy = types.FunctionType(fn.__code__, {**fn.__globals__, **names}, name, fn.__defaults__, fn.__closure__)
    copy.__qualname__, copy.__module__, copy.__doc__ = name, fn.__module__, fn.__doc__
    return copy
