"""The ``Metric`` base class: Keras 3's surface, state arrays on a device, and merging written once.

Every state is a :class:`Variable` that declares how two partial states
combine (``sum``, ``max``, ``min``, ``concat``, or ``moments``: Chan et al.'s pairwise update
of per-column weighted means and centred sums), so ``reset_state``,
``merge_state``, ``state_dict`` / ``load_state_dict`` and ``copy`` work for
every metric, built-in or user-defined, without further code.
"""
import collections.abc as _abc
import contextlib
import copy as _copy
import functools
import re
import sys
import warnings

import numpy as np

from . import backends
from ._arguments import check_dtype
from ._identity import STAMP_KEYS, check_stamp, describe, stamp
from ._keras_guard import refuse_keras_function_wrappers

MERGE_RULES = ("sum", "max", "min", "concat", "moments")
#: the methods of every metric class that leave the metric unchanged when they raise (``atomic``)
_ATOMIC_METHODS = ("update_state", "merge_state", "load_state_dict")
_KERAS_AGGREGATIONS = {"sum": "sum", "none": "sum", "mean": None, "only_first_replica": None}
#: what ``Metric.blank`` gives a copy in place of the device-bound attributes
UNPLACED = {"_backend": lambda: None, "_device": lambda: "auto", "_device_arrays": dict, "_copied_to_device": set,
             "_replays": lambda: None}


def atomic(method):
    """``method`` of a metric, undone when it raises: a rejected call changes nothing.

    Every check runs before a kernel writes a state, so the state values need no copy. What a call can change
    before it is refused is the metric's structure: the device of an ``auto`` metric (placed by its first input,
    state dict or merge), the states declared with a ``None`` dimension (``add_state``: ``AUC(multi_label=True)``,
    the F-scores, ``R2Score``) that a batch, a state dict or a merge builds, and the device constants cached for it. The wrapper
    (a method of the metric's class) saves that structure and puts it back when the call raises (a refused input,
    a failed kernel, an interrupt). A metric already placed and built has no structure left to change, so its
    calls pay one check.
    """

    @functools.wraps(method)
    def call(self, *args, **kwargs):
        if self.is_placed and self.is_built:
            return method(self, *args, **kwargs)
        snapshot = self._snapshot()
        try:
            return method(self, *args, **kwargs)
        except BaseException:
            self._restore(snapshot)
            raise

    return call


def replayed(method):
    """``update_state`` of a metric (already ``atomic``), replayed on a GPU from the launches it kept for a repeated
    input signature (``gpumetrics._replay``); run in full everywhere else."""

    @functools.wraps(method)
    def update_state(self, *args, **kwargs):
        replays = self._replays
        if replays is None:  # not decided yet: decided once the metric is placed
            if self._backend is None:
                return method(self, *args, **kwargs)
            replays = self._replays = self._new_replays()
        if replays is False:
            return method(self, *args, **kwargs)
        return replays.update(self, method, args, kwargs)

    return update_state


@contextlib.contextmanager
def rolled_back(metrics, values=()):
    """A block that updates several metrics (``MetricCollection``) changes none of them when it raises: each
    metric's structure comes back as ``atomic`` restores it (only a metric not yet placed and built, or one whose
    update, merge or load is a user's own, has any to change: ``_structure_fixed``), and the state values of the
    placed metrics in ``values`` (the ones the block may write before it raises) from device copies taken on entry."""
    saved = [(m, m._snapshot()) for m in metrics if not _structure_fixed(m)]
    copies = [(m, [v.value.copy() for v in m._variables]) for m in values if m.is_placed]
    try:
        yield
    except BaseException:
        for metric, snapshot in saved:
            metric._restore(snapshot)
        for metric, arrays in copies:
            for variable, array in zip(metric._variables, arrays):
                variable.assign(array)
        raise


def _structure_fixed(metric):
    """Whether a call that another member's raise undoes cannot have changed ``metric``'s structure: placed, built,
    and its ``update_state`` / ``merge_state`` / ``load_state_dict`` this package's own. A user's own may add a state
    or set an attribute on any call (Keras's F1Score builds at its first batch), and in a collection it returns
    before a later member raises, so ``is_built`` alone does not tell (``distributed._settled`` reads it so too)."""
    return metric.is_placed and metric.is_built and package_defines(metric, *_ATOMIC_METHODS)


def package_defines(metric, *methods):
    """Whether each of ``methods`` on ``metric``'s class is this package's own, not a user's override (which may
    add states or set attributes on any call)."""
    return all(getattr(type(metric), method).__module__.startswith("gpumetrics.") for method in methods)


def merge_arguments(given, into, kind):
    """``merge_state``'s argument as a list: one ``kind`` (``Metric`` or ``MetricCollection``) or an iterable of
    them. None, a string, a lone object of the other kind (a collection into a metric) and other non-iterables are
    refused by name (``TypeError``) before anything changes; the items are checked by the caller."""
    from .collection import MetricCollection

    if isinstance(given, kind):
        return [given]
    if isinstance(given, (Metric, MetricCollection, str, bytes)) or not hasattr(given, "__iter__"):
        raise TypeError(f"{type(into).__name__}.merge_state takes a {kind.__name__} or a list of them; got "
                        f"{type(given).__name__}")
    return list(given)


def to_snake_case(name):
    """``"MeanSquaredError"`` → ``"mean_squared_error"`` (Keras's rule for default names).

    >>> to_snake_case("RootMeanSquaredError")
    'root_mean_squared_error'
    """
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def _check_state_mapping(state):
    """Refuse (``TypeError`` naming ``state``) anything ``load_state_dict`` cannot read as a mapping of arrays."""
    if not isinstance(state, _abc.Mapping) and not (hasattr(state, "keys") and hasattr(state, "__getitem__")):
        raise TypeError(f"state must be a mapping of state names to arrays (a state_dict(), numpy.load(path)); "
                        f"got {type(state).__name__}")


def _check_count(variable, array):
    """Refuse (``ValueError``) a count below 0, NaN, or past its dtype's range (a count that wrapped around)."""
    top = np.iinfo(variable.dtype).max if np.dtype(variable.dtype).kind in "iu" else np.inf
    if array.size and not bool(np.all((array >= 0) & (array <= top))):
        raise ValueError(f"state {variable.name!r} is a count, from 0 to {top}; got values from {array.min()} to "
                         f"{array.max()}")


_FILLS = {"zeros": 0, "ones": 1}


def _check_initializer(initializer):
    if isinstance(initializer, str) and initializer.lower() not in _FILLS:
        raise ValueError(f"initializer must be 'zeros', 'ones', a number or a callable; got {initializer!r}")


def _fill_value(initializer):
    """The one value a "zeros" / "ones" / number initializer fills a state with; None for a callable or an array
    (Keras's initial value given as it is)."""
    if isinstance(initializer, str):
        return _FILLS[initializer.lower()]
    return None if callable(initializer) or np.ndim(initializer) != 0 else initializer


def _initial_value(initializer, shape, dtype):
    """A host array from a Keras-style initializer: "zeros", "ones", a number, or ``f(shape, dtype)``. A constant
    is its value broadcast to ``shape`` (read-only, one element of memory): a ``MeanIoU(num_classes=2**16)`` would
    otherwise hold its 32 GiB confusion matrix a second time on the host from construction on."""
    fill = _fill_value(initializer)
    if fill is None and callable(initializer):
        return np.asarray(initializer(shape, dtype=dtype), dtype=dtype).reshape(shape)
    if fill is None:  # an array of initial values, broadcast to the shape (as Keras's Variable takes it)
        return np.array(np.broadcast_to(np.asarray(initializer, dtype=dtype), shape))
    return np.broadcast_to(np.asarray(fill, dtype=dtype), shape)


class Variable:
    """One state array of a metric, with the Keras ``Variable`` surface (``assign``, ``assign_add``, ``numpy()``).

    The array lives on the metric's device. Until an ``auto`` metric has seen
    its first batch, reads give the initial value and writes place the metric
    on the CPU. A ``shape`` with a ``None`` dimension declares a state sized
    later: that Variable is only the template that ``_sized`` fills in
    (see ``Metric.add_state``).
    """

    def __init__(self, metric, name, shape, dtype, initializer, merge, count=False):
        if merge is not None and merge not in MERGE_RULES:
            raise ValueError(f"merge must be one of {MERGE_RULES}; got {merge!r}")
        _check_initializer(initializer)
        self._metric = metric
        self.name = name
        self.dtype = np.dtype(dtype).name
        self._declared = tuple(shape)
        self._initializer = initializer
        sized = None not in self._declared
        self._initial = _initial_value(initializer, self._declared, self.dtype) if sized else None
        fill = _fill_value(initializer)
        self._fill = None if fill is None else np.asarray(fill, dtype=self.dtype)[()]
        self.merge = merge
        self.count = count
        self._array = None

    @property
    def initial(self):
        """The initial value (a read-only host array)."""
        return self._initial

    def initial_on(self, xp):
        """A new array of the initial value on ``xp``'s device; a constant is filled there, not copied from the host."""
        if self._fill is None:
            return xp.array(self._initial, copy=True)
        return xp.full(self._initial.shape, self._fill, dtype=self.dtype)

    @property
    def initial_is_nonzero(self):
        """Whether a ``sum`` merge must take the initial value out of each part (a custom ``"ones"`` state)."""
        return bool(self._fill != 0) if self._fill is not None else bool(np.any(self._initial != 0))

    def _sized(self, size):
        """A new Variable of this declaration with every ``None`` dimension ``size``."""
        shape = tuple(size if d is None else d for d in self._declared)
        return Variable(self._metric, self.name, shape, self.dtype, self._initializer, self.merge, self.count)

    @property
    def shape(self):
        return (self._initial if self._array is None else self._array).shape

    @property
    def value(self):
        """The device array (the initial value, on the host, while an ``auto`` metric is unplaced)."""
        if self._array is None:
            return self._initial.copy()
        return self._array

    def allocate(self, backend):
        """Put the initial value on ``backend``'s device (its metric calls this when it is placed)."""
        self._array = self.initial_on(backend.xp)


    def writable(self):
        """The device array, for kernels that write the state in place (places an unplaced metric)."""
        if self._array is None:
            self._metric.backend  # asking places the metric, which allocates this array
        return self._array

    def extend(self, rows, limit=None):
        """Room for ``rows`` more rows at the end of a ``concat`` state; returns their (unfilled) view to write.

        Amortised O(1) per row: the state is a prefix view of a buffer (its ``base``) that doubles when full, up to
        ``limit`` rows; no device data is read. Every other write (merge, load, reset) gives an exact-size array.
        """
        if self.merge != "concat":
            raise TypeError(f"state {self.name!r} merges by {self.merge!r}; only a 'concat' state extends")
        array = self.writable()
        size = array.shape[0] + rows
        buffer = array.base
        if buffer is None or buffer.shape[1:] != array.shape[1:] or buffer.shape[0] < size:
            capacity = max(size, 2 * (buffer.shape[0] if buffer is not None else array.shape[0]), 16)
            buffer = self._metric.backend.xp.empty((min(capacity, max(limit or capacity, size)),) + array.shape[1:],
                                                   dtype=self.dtype)
            buffer[:array.shape[0]] = array
        self._array = buffer[:size]
        return self._array[size - rows:]

    def assign(self, value):
        array = self.writable()
        value = self._metric.xp.asarray(value, dtype=self.dtype)
        if self.merge == "concat":
            self._array = value.copy()
        else:
            array[...] = value

    def assign_add(self, value):
        array = self.writable()
        array += self._metric.xp.asarray(value, dtype=self.dtype)

    def assign_sub(self, value):
        array = self.writable()
        array -= self._metric.xp.asarray(value, dtype=self.dtype)

    def reset(self):
        """Back to the initial value, in place on the device (an unallocated state already holds it)."""
        if self._array is None:
            return
        if self.merge == "concat":
            self._array = self.initial_on(self._metric.xp)
        elif self._fill is not None:
            self._array[...] = self._fill
        else:
            self._array[...] = self._metric.xp.asarray(self._initial)

    def __getstate__(self):
        """What ``pickle``, ``deepcopy`` and ``Metric.blank`` copy: a constant initial value by its shape alone (its
        broadcast view would be copied as a full array, the 32 GiB of a ``MeanIoU(num_classes=2**16)``)."""
        state = dict(self.__dict__)
        if self._fill is not None and self._initial is not None:
            state["_initial"] = self._initial.shape
        return state

    def __setstate__(self, state):
        if isinstance(state.get("_initial"), tuple):
            state = {**state, "_initial": np.broadcast_to(state["_fill"], state["_initial"])}
        self.__dict__.update(state)

    def numpy(self):
        """A NumPy copy of the state.  # synchronize!"""
        return self._metric.backend.to_host(self._array) if self._array is not None else self._initial.copy()

    def __array__(self, dtype=None, copy=None):
        array = self.numpy()  # synchronize!
        return array if dtype is None else array.astype(dtype)

    def __float__(self):
        return float(self.numpy())  # synchronize!

    def __int__(self):
        return int(self.numpy())  # synchronize!

    def __len__(self):
        return len(self.value)

    def __getitem__(self, index):
        return self.value[index]

    def __repr__(self):
        return f"<Variable {self._metric.name}/{self.name} shape={self.shape} dtype={self.dtype} merge={self.merge}>"


def _binary(op):
    def method(self, other):
        return op(self.value, other.value if isinstance(other, Variable) else other)

    return method


for _name, _op in {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "truediv": lambda a, b: a / b, "pow": lambda a, b: a ** b,
    "radd": lambda a, b: b + a, "rsub": lambda a, b: b - a, "rmul": lambda a, b: b * a,
    "rtruediv": lambda a, b: b / a, "lt": lambda a, b: a < b, "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b, "ge": lambda a, b: a >= b,
}.items():
    setattr(Variable, f"__{_name}__", _binary(_op))
Variable.__neg__ = lambda self: -self.value


class Metric:
    """Base class of every metric: subclass it as you would ``keras.metrics.Metric``.

    Args:
        dtype: dtype of ``result()`` (default ``"float32"``, as Keras). States
            accumulate in float64 or int64 whatever this is.
        name: the metric's name (default: the class name in snake_case).
        device: ``"auto"`` (state goes where the first batch lives), ``"cpu"``
            or ``"cuda"``.

    >>> class BinaryTruePositives(Metric):
    ...     def __init__(self, name="binary_true_positives", **kwargs):
    ...         super().__init__(name=name, **kwargs)
    ...         self.true_positives = self.add_variable(shape=(), initializer="zeros", name="true_positives")
    ...     def update_state(self, y_true, y_pred, sample_weight=None):
    ...         y_true, y_pred = self.asarray(y_true, "y_true"), self.asarray(y_pred, "y_pred")
    ...         values = ((y_true != 0) & (y_pred != 0)).astype(self.dtype)
    ...         if sample_weight is not None:
    ...             values = values * self.asarray(sample_weight, "sample_weight")
    ...         self.true_positives.assign(self.true_positives + values.sum())
    ...     def result(self):
    ...         return self.true_positives
    >>> m = BinaryTruePositives()
    >>> m.update_state([0, 1, 1, 1], [1, 0, 1, 1])
    >>> float(m.result())
    2.0
    """

    #: whether this class's ``update_state`` is only checks and kernel passes, so that a GPU may replay its launches
    #: (``gpumetrics._replay``); a class that defines ``update_state`` says so itself, or is never replayed
    _replays_update = False
    #: the metric's ``_replay.Replays`` once placed on a GPU where it may replay, ``False`` where not, ``None`` before
    _replays = None

    def __init__(self, dtype=None, name=None, *, device="auto"):
        self.name = name or to_snake_case(type(self).__name__)
        self._dtype = check_dtype(dtype)
        self._device = backends.check_device(device)
        self._backend = None if device == "auto" else backends.resolve(device)
        self._variables = []
        self._unbuilt = []  # templates of the states sized by the first batch, until build_states
        self._copied_to_device = set()
        self._device_arrays = {}

    def __init_subclass__(cls, **kwargs):
        """A subclass's own ``update_state`` / ``merge_state`` / ``load_state_dict`` become atomic: a call that
        raises leaves the metric as it was, unplaced and unbuilt included (``atomic``)."""
        super().__init_subclass__(**kwargs)
        for name in _ATOMIC_METHODS:
            if name in cls.__dict__:
                setattr(cls, name, atomic(cls.__dict__[name]))
        if "update_state" in cls.__dict__:
            if "_replays_update" not in cls.__dict__:
                cls._replays_update = False  # a new update_state may do more than kernel passes: never replayed
            cls.update_state = replayed(cls.update_state)

    # -- Keras surface ---------------------------------------------------------------------------------------
    @property
    def dtype(self):
        return self._dtype

    @property
    def device(self):
        """``"cpu"`` or ``"cuda"`` once placed; ``"auto"`` before an ``auto`` metric's first batch."""
        return self._backend.device if self._backend is not None else "auto"

    @property
    def variables(self):
        return list(self._variables)

    def add_variable(self, shape, initializer="zeros", dtype=None, aggregation="sum", name=None):
        """Keras's ``add_variable``; ``aggregation`` becomes the merge rule (``"sum"``, ``"max"``, ``"min"``).

        ``dtype=None`` keeps the state in float64 (Keras: float32) so sums lose nothing.
        """
        if aggregation not in MERGE_RULES and aggregation not in _KERAS_AGGREGATIONS:
            raise ValueError(f"aggregation must be one of {MERGE_RULES + tuple(_KERAS_AGGREGATIONS)}; "
                             f"got {aggregation!r}")
        return self.add_state(name or f"variable_{len(self._variables)}", shape, dtype or "float64",
                              _KERAS_AGGREGATIONS.get(aggregation, aggregation), initializer)

    def add_weight(self, shape=(), initializer="zeros", dtype=None, name=None):
        """The older name of :meth:`add_variable`."""
        return self.add_variable(shape=shape, initializer=initializer, dtype=dtype, name=name)

    def add_state(self, name, shape=(), dtype="float64", merge="sum", initializer="zeros", *, count=False):
        """Declare a state array and how two partial states merge; returns its :class:`Variable`.

        ``count=True`` marks an unweighted count (never negative or NaN), which ``load_state_dict`` checks.

        A ``None`` in ``shape`` (``(7, None)``) is a size only the data tell, such as a number of labels: the
        state is built by :meth:`build_states` (which ``update_state`` calls once the batch shows the size), by
        ``load_state_dict`` or by ``merge_state`` with a built metric. Until then ``add_state`` has returned
        ``None``, the attribute named ``name`` is ``None``, and the state is in neither ``variables`` nor
        ``state_dict`` (as in Keras, where such metrics add their variables at the first batch).
        """
        if "_variables" not in self.__dict__:
            raise RuntimeError("call super().__init__() in your metric's __init__ before adding state")
        if any(v.name == name for v in self._variables + self._unbuilt):
            raise ValueError(f"{type(self).__name__} already has a state named {name!r}")
        variable = Variable(self, name, shape, dtype, initializer, merge, count)
        if None in variable._declared:
            self._unbuilt.append(variable)
            return None
        if self._backend is not None:
            variable.allocate(self._backend)
        self._variables.append(variable)
        return variable

    def build_states(self, size):
        """Build every state declared with a ``None`` dimension, all with that dimension ``size``; nothing when
        built. ``update_state`` may build before its last check: a call that raises unbuilds (``atomic``)."""
        for template in self._unbuilt:
            variable = template._sized(size)
            if self._backend is not None:
                variable.allocate(self._backend)
            self._variables.append(variable)
            setattr(self, variable.name, variable)
        self._unbuilt = []

    def _built(self):
        """Whether every state exists: False until a metric with states sized by the data is built."""
        return not self._unbuilt

    def _build_from(self, incoming):
        """Build an unbuilt metric from the first of ``incoming`` (``{name: shape}`` of a state dict's arrays or
        of a built metric's states) that has one of its unbuilt states at the declared rank: the size is there."""
        if self._built():
            return
        for shapes in incoming:
            for template in self._unbuilt:
                shape = shapes.get(template.name)
                if shape is not None and len(shape) == len(template._declared):
                    self.build_states(shape[template._declared.index(None)])
                    return

    def update_state(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must implement update_state")

    def result(self):
        raise NotImplementedError(f"{type(self).__name__} must implement result")

    def reset_state(self):
        """Every state back to its initial value, in place on the device."""
        for variable in self._variables:
            variable.reset()

    def reset_states(self):
        """The older name of :meth:`reset_state`."""
        self.reset_state()

    def __call__(self, *args, **kwargs):
        refuse_keras_function_wrappers(self, sys._getframe(1))
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config, custom_objects=None, safe_mode=True):
        """The metric of ``get_config``'s dict. ``custom_objects`` and ``safe_mode`` are Keras's; the base class
        resolves no objects, so it only checks that ``config`` is a dict of argument names."""
        return cls(**cls._checked_config(cls, config))

    @staticmethod
    def _checked_config(cls, config):
        if not isinstance(config, dict):
            raise TypeError(f"{cls.__name__}.from_config expects a dict (get_config's); got {type(config).__name__}")
        bad = [k for k in config if not isinstance(k, str)]
        if bad:
            raise TypeError(f"{cls.__name__}.from_config: config keys must be argument names (str); got {bad!r}")
        return config

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name} device={self.device}>"

    # -- devices and inputs ----------------------------------------------------------------------------------
    @property
    def is_built(self):
        """Whether every state exists (False before the first batch of a metric that sizes a state from it)."""
        return self._built()

    @property
    def is_placed(self):
        """Whether the states live on a device (False for an ``auto`` metric before its first batch, state dict,
        merge or write)."""
        return self._backend is not None

    def _place(self, sample=None, backend=None, name=None):
        """Fix the backend (an ``auto`` metric follows ``sample``, the argument ``name``, or takes ``backend``) and
        allocate the states."""
        if self._backend is None:
            self._backend = backend or backends.resolve(self._device, sample, name)
            for variable in self._variables:
                variable.allocate(self._backend)
        return self._backend

    def place(self, device):
        """Place an ``auto`` metric that has seen nothing on ``device`` (``"cpu"`` or ``"cuda"``) and allocate its
        states, as a first batch there would (``distributed.sync`` places a rank's unused metric where its engine
        moves states: NCCL's on the GPU). A placed metric stays where it is; another device is a ``ValueError``."""
        backend = self._place(backend=backends.resolve(device))
        if backend.device != device:
            raise ValueError(f"{self.name} lives on {backend.device!r}; it cannot be placed on {device!r}")
        return self

    def _replayable(self):
        """Whether this instance's updates are only checks and kernel passes (its class's ``_replays_update`` says
        so for the class): not grouped, whose ``dropped_samples`` count is a CuPy step outside any kernel."""
        return getattr(self, "num_groups", None) is None

    def _new_replays(self):
        """``_replay.Replays`` for a metric of the package placed on a real GPU, whose updates may be replayed
        (unless ``GPUMETRICS_REPLAY=off``); ``False`` for any other."""
        backend = self._backend
        if (backend.name != "cuda" or backend.simulated or not self._replays_update
                or not type(self).__module__.startswith("gpumetrics.") or not self._replayable()):
            return False
        from ._kernels._shared import launch
        from ._replay import Replays, enabled

        return Replays() if enabled() and launch.CUDA_LAUNCH == "raw" else False

    def device_arrays(self):
        """Every device array this metric keeps: its states' and its device constants' (none while unplaced)."""
        if not self.is_placed:
            return []
        return [variable.value for variable in self._variables] + list(self._device_arrays.values())

    def _import(self, x, name):
        """``x`` as an array on this metric's device (placing an ``auto`` metric on first use)."""
        backend = self._place(x, name=name)
        array = backend.asarray(x, name)  # refuses, by name, what it cannot read
        if name not in self._copied_to_device and backend.needs_copy(x):
            self._copied_to_device.add(name)
            warnings.warn(f"{self.name}: {name} is in host memory and is copied to the GPU on every update; pass "
                          f"GPU arrays (CuPy, PyTorch, JAX) to avoid the copy", stacklevel=3)
        return array

    def asarray(self, x, name="input"):
        """``x`` (NumPy, CuPy, PyTorch, JAX, Numba arrays or lists) as an array of this metric's device, NumPy or
        CuPy, for a subclass's ``update_state``: zero-copy where the memory allows, torch tensors that require grad
        read through ``detach()``, inputs without values (JAX tracers) refused. Places an ``auto`` metric."""
        return self._import(x, name)

    @property
    def backend(self):
        """The :class:`~gpumetrics.backends.base.Backend` the states live on; an unplaced ``auto`` metric is placed
        on the CPU by asking (as by any write before its first batch)."""
        return self._place()

    @property
    def xp(self):
        """The array module of the states (NumPy or CuPy), for a subclass's small O(state) math."""
        return self._place().xp

    def device_constant(self, key, host_values):
        """A float64 device array made once per ``key`` from host values: a constant (thresholds, kernel
        parameters) or a scratch buffer of this metric. A host-to-device copy from pageable memory waits for the
        stream, so it must not happen on every update."""
        if key not in self._device_arrays:
            self._device_arrays[key] = self.xp.asarray(host_values, dtype=np.float64)
        return self._device_arrays[key]

    # -- beyond Keras: merging, state dicts, copies ---------------------------------------------------------
    def _state_of(self, name):
        return next(v for v in self._variables if v.name == name)

    def _peer_identity(self):
        """What ranks must agree on beyond ``describe`` (plain data; ``distributed.sync`` compares it): nothing."""
        return {}

    def _check_compatible(self, other):
        if type(other) is not type(self):
            raise TypeError(f"cannot merge {type(other).__name__} into {type(self).__name__}")
        mine, theirs = describe(self)["config"], describe(other)["config"]
        if mine != theirs:
            raise ValueError(f"cannot merge metrics with different configurations: {mine} vs {theirs}")
        if other.is_placed and self._place(backend=other.backend) is not other.backend:
            raise ValueError(f"cannot merge a metric on {other.device} into one on {self.device}; move one first "
                             f"(load_state_dict(other.state_dict()) copies through the host)")
        for a, b in zip(self._variables, other.variables):
            if a.merge is None:
                raise ValueError(f"state {a.name!r} of {self.name} has no merge rule (Keras aggregation "
                                 f"'mean' or 'only_first_replica' cannot be merged exactly)")
            if a.merge != "concat" and a.shape != b.shape:  # shape, not value: no host copy of an initial value
                raise ValueError(f"state {a.name!r} has shape {a.shape} here and {b.shape} in {other.name}")

    @atomic
    def merge_state(self, metrics):
        """Fold the states of other metrics of the same configuration into this one, in place.

        ``metrics`` is one metric or an iterable of them; each is left unchanged (this metric itself, or a shallow
        copy of it, may be among them: each such entry adds the state it had on entry).
        All are checked before any state changes. An unbuilt metric (``add_state``'s ``None`` dimensions) is
        built to the size of the first built metric of its class among them.
        """
        others = merge_arguments(metrics, self, Metric)
        self._build_from({v.name: v.shape for v in o._variables} for o in others if type(o) is type(self))
        for other in others:
            self._check_compatible(other)
        xp = self.xp
        # this metric itself (or a shallow copy sharing its states) may be among ``others``, once or more: each
        # fold must read the state it had on entry, not the one the previous folds already changed
        own = {id(v._array) for v in self._variables if v._array is not None}
        parts = [[(theirs, xp.copy(theirs.value) if id(theirs.value) in own else theirs.value)
                  for theirs in other.variables]
                 for other in others if other.is_placed]  # an unplaced auto metric holds only initial values
        for part in parts:
            for mine, (theirs, value) in zip(self._variables, part):
                array = mine.writable()
                if mine.merge == "sum":
                    array += value
                    if theirs.initial_is_nonzero:  # every part started from it; the total counts it once
                        array -= theirs.initial_on(xp)
                elif mine.merge == "max":
                    xp.maximum(array, value, out=array)
                elif mine.merge == "min":
                    xp.minimum(array, value, out=array)
                elif mine.merge == "moments":  # Chan et al.'s pairwise update, by the kernel twin of the device
                    self.backend.merge_moments(array, value)
                else:
                    mine.assign(xp.concatenate([array, value]))

    def state_dict(self):
        """``{state name: NumPy array}`` plus ``"__class__"`` and ``"__fingerprint__"`` (which class and
        configuration saved them: a string and an int64): a host copy, e.g. for ``numpy.savez``.  # synchronize!"""
        return {**stamp(self), **{v.name: v.numpy() for v in self._variables}}

    @atomic
    def load_state_dict(self, state, *, strict=True):
        """Replace every state by the arrays in ``state`` (any mapping, e.g. ``numpy.load(path)``).

        ``strict=True`` loads only what ``state_dict`` of a metric of this class and configuration wrote (its
        ``"__class__"`` / ``"__fingerprint__"`` entries); ``strict=False`` skips that check, to load a plain dict
        of arrays. All keys, shapes, dtypes and counts are checked before any state changes. An unplaced
        ``auto`` metric is placed on the CPU; an unbuilt one is built to the size its arrays have.
        """
        _check_state_mapping(state)
        if strict:
            check_stamp(self, state)
        self._build_from([{v.name: np.shape(state[v.name]) for v in self._unbuilt if v.name in state}])
        for template in self._unbuilt:  # still unbuilt: its array has another rank than the state's
            if template.name in state:
                dims = ", ".join("n" if d is None else str(d) for d in template._declared)
                raise ValueError(f"state {template.name!r} needs shape ({dims}{',' * (len(template._declared) == 1)})"
                                 f" (n: sized by the data); got {np.shape(state[template.name])}")
        keys = sorted(k for k in state.keys() if k not in STAMP_KEYS)
        names = sorted(v.name for v in self._variables)
        if keys != names:
            missing, unknown = sorted(set(names) - set(keys)), sorted(set(keys) - set(names))
            raise ValueError(f"state dict has keys {keys}; {self.name} needs {names} (missing {missing}, unknown "
                             f"{unknown})")
        arrays = {}
        for variable in self._variables:
            try:
                array = np.asarray(state[variable.name])
            except (TypeError, ValueError, RuntimeError) as error:
                raise TypeError(f"state {variable.name!r} is a {type(state[variable.name]).__name__} that NumPy "
                                f"cannot read ({error}); pass NumPy arrays, as state_dict() gives them") from None
            if variable.merge != "concat" and array.shape != variable.shape:
                raise ValueError(f"state {variable.name!r} needs shape {variable.shape}; got {array.shape}")
            if not np.can_cast(array.dtype, variable.dtype, casting="same_kind"):
                raise TypeError(f"state {variable.name!r} is {variable.dtype}; got {array.dtype}")
            if variable.count:
                _check_count(variable, array)
            arrays[variable.name] = array
        for variable in self._variables:
            variable.assign(arrays[variable.name])

    def copy(self):
        """An independent metric with the same configuration, device and state (device-to-device copy)."""
        return _copy.deepcopy(self)

    def blank(self):
        """An independent metric with the same configuration and no state or device (an unplaced ``auto``
        metric): what travels to a Dask worker, or a fresh partial state to merge into. Copies no device array."""
        memo = {id(variable.value): None for variable in self._variables} if self.is_placed else {}
        clone = type(self).__new__(type(self))
        memo[id(self)] = clone  # the states' device arrays copy to None: unallocated
        for key, value in self.__dict__.items():
            clone.__dict__[key] = UNPLACED[key]() if key in UNPLACED else _copy.deepcopy(value, memo)
        return clone

    def _snapshot(self):
        """What a call can change before it is refused (``atomic``): the attributes (containers copied one level
        down) and each state's attributes (its array included)."""
        attributes = {key: value.copy() if isinstance(value, (list, dict, set)) else value
                      for key, value in self.__dict__.items()}
        return attributes, [(variable, dict(vars(variable))) for variable in self._variables]

    def _restore(self, snapshot):
        attributes, variables = snapshot
        self.__dict__.clear()
        self.__dict__.update(attributes)
        for variable, saved in variables:
            vars(variable).update(saved)

    def __getstate__(self):
        """What ``pickle`` keeps: the backend by its name (a process's backends are shared, and hold modules) and no
        replays (a copy learns its own, as in ``__deepcopy__``)."""
        state = dict(self.__dict__)
        state.pop("_replays", None)
        if state.get("_backend") is not None:
            state["_backend"] = state["_backend"].name
        return state

    def __setstate__(self, state):
        if state.get("_backend") is not None:
            state = {**state, "_backend": backends.get_backend(state["_backend"])}
        self.__dict__.update(state)

    def __deepcopy__(self, memo):
        clone = type(self).__new__(type(self))
        memo[id(self)] = clone
        for key, value in self.__dict__.items():
            clone.__dict__[key] = value if key == "_backend" else _copy.deepcopy(value, memo)
        return clone
