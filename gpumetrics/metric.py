"""The ``Metric`` base class: Keras 3's surface, state arrays on a device, and merging written once.

Every state is a :class:`Variable` that declares how two partial states
combine (``sum``, ``max``, ``min``, ``concat``, or ``moments``: Chan et al.'s pairwise update
of per-column weighted means and centred sums), so ``reset_state``,
``merge_state``, ``state_dict`` / ``load_state_dict`` and ``copy`` work for
every metric, built-in or user-defined, without further code.
"""
import collections.abc as _abc
import copy as _copy
import re
import sys
import warnings

import numpy as np

from . import backends
from ._arguments import check_dtype
from ._identity import STAMP_KEYS, check_stamp, describe, stamp
from ._keras_guard import refuse_keras_function_wrappers
from ._rollback import atomic

MERGE_RULES = ("sum", "max", "min", "concat", "moments")
#: the methods of every metric class that leave the metric unchanged when they raise (``_rollback.atomic``)
_ATOMIC_METHODS = ("update_state", "merge_state", "load_state_dict")
_KERAS_AGGREGATIONS = {"sum": "sum", "none": "sum", "mean": None, "only_first_replica": None}


def to_snake_case(name):
    """``"MeanSquaredError"`` → ``"mean_squared_error"`` (Keras's rule for default names).

    >>> to_snake_case("RootMeanSquaredError")
    'root_mean_squared_error'
    """
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def _merge_moments(xp, array, other):
    """The ``"moments"`` rule: ``float64[7, L]`` states ``[W, mean_x, mean_y, M2x, M2y, Cxy, D]`` per column
    (see the ``moments`` primitive) combine by Chan et al.'s pairwise update, ``D`` adds. The formula lives
    once, in ``gpumetrics._kernels.moments.rules``; the kernel twin of the state's device applies it."""
    if xp is np:
        from ._kernels.moments.cpu import merge_moments
    else:
        from ._kernels.moments.cuda import merge_moments
    merge_moments(array, other)


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


def _initial_value(initializer, shape, dtype):
    """A host array from a Keras-style initializer: "zeros", "ones", a number, or ``f(shape, dtype)``."""
    if isinstance(initializer, str):
        fills = {"zeros": 0, "ones": 1}
        if initializer.lower() not in fills:
            raise ValueError(f"initializer must be 'zeros', 'ones', a number or a callable; got {initializer!r}")
        return np.full(shape, fills[initializer.lower()], dtype=dtype)
    if callable(initializer):
        return np.asarray(initializer(shape, dtype=dtype), dtype=dtype).reshape(shape)
    return np.full(shape, initializer, dtype=dtype)


class Variable:
    """One state array of a metric, with the Keras ``Variable`` surface (``assign``, ``assign_add``, ``numpy()``).

    The array lives on the metric's device. Until an ``auto`` metric has seen
    its first batch, reads give the initial value and writes place the metric
    on the CPU.
    """

    def __init__(self, metric, name, shape, dtype, initializer, merge, count=False):
        if merge is not None and merge not in MERGE_RULES:
            raise ValueError(f"merge must be one of {MERGE_RULES}; got {merge!r}")
        self._metric = metric
        self.name = name
        self.dtype = np.dtype(dtype).name
        self._initial = _initial_value(initializer, tuple(shape), self.dtype)
        self.merge = merge
        self.count = count
        self._array = None

    @property
    def shape(self):
        return self.value.shape

    @property
    def value(self):
        """The device array (the initial value, on the host, while an ``auto`` metric is unplaced)."""
        if self._array is None:
            return self._initial.copy()
        return self._array

    def _allocate(self, backend):
        self._array = backend.xp.array(self._initial, copy=True)

    def writable(self):
        """The device array, for kernels that write the state in place (places an unplaced metric)."""
        if self._array is None:
            self._metric._place()
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
        value = self._metric._backend.xp.asarray(value, dtype=self.dtype)
        if self.merge == "concat":
            self._array = value.copy()
        else:
            array[...] = value

    def assign_add(self, value):
        array = self.writable()
        array += self._metric._backend.xp.asarray(value, dtype=self.dtype)

    def assign_sub(self, value):
        array = self.writable()
        array -= self._metric._backend.xp.asarray(value, dtype=self.dtype)

    def _reset(self):
        if self._array is None:
            return
        if self.merge == "concat":
            self._array = self._metric._backend.xp.array(self._initial, copy=True)
        else:
            self._array[...] = self._metric._backend.xp.asarray(self._initial)

    def numpy(self):
        """A NumPy copy of the state.  # synchronize!"""
        return self._metric._backend.to_host(self._array) if self._array is not None else self._initial.copy()

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

    def __init__(self, dtype=None, name=None, *, device="auto"):
        self.name = name or to_snake_case(type(self).__name__)
        self._dtype = check_dtype(dtype)
        self._device = backends.check_device(device)
        self._backend = None if device == "auto" else backends.resolve(device)
        self._variables = []
        self._copied_to_device = set()
        self._device_arrays = {}
        self._sync_verified = {}  # group id -> fingerprint its ranks agreed on (gpumetrics.distributed.sync)

    def __init_subclass__(cls, **kwargs):
        """A subclass's own ``update_state`` / ``merge_state`` / ``load_state_dict`` become atomic: a call that
        raises leaves the metric as it was, unplaced and unbuilt included (``_rollback``)."""
        super().__init_subclass__(**kwargs)
        for name in _ATOMIC_METHODS:
            if name in cls.__dict__:
                setattr(cls, name, atomic(cls.__dict__[name]))

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
        """
        if "_variables" not in self.__dict__:
            raise RuntimeError("call super().__init__() in your metric's __init__ before adding state")
        if any(v.name == name for v in self._variables):
            raise ValueError(f"{type(self).__name__} already has a state named {name!r}")
        variable = Variable(self, name, shape, dtype, initializer, merge, count)
        if self._backend is not None:
            variable._allocate(self._backend)
        self._variables.append(variable)
        return variable

    def update_state(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must implement update_state")

    def result(self):
        raise NotImplementedError(f"{type(self).__name__} must implement result")

    def reset_state(self):
        """Every state back to its initial value, in place on the device."""
        for variable in self._variables:
            variable._reset()

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
        return cls(**Metric._checked_config(cls, config))

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
    def _built(self):
        """Whether every state exists; metrics that size a state from their first batch say False until then."""
        return True

    def _place(self, sample=None, backend=None, name=None):
        """Fix the backend (an ``auto`` metric follows ``sample``, the argument ``name``, or takes ``backend``) and
        allocate the states."""
        if self._backend is None:
            self._backend = backend or backends.resolve(self._device, sample, name)
            for variable in self._variables:
                variable._allocate(self._backend)
        return self._backend

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

    def _check_compatible(self, other):
        if type(other) is not type(self):
            raise TypeError(f"cannot merge {type(other).__name__} into {type(self).__name__}")
        mine, theirs = describe(self)["config"], describe(other)["config"]
        if mine != theirs:
            raise ValueError(f"cannot merge metrics with different configurations: {mine} vs {theirs}")
        if other._backend is not None and self._place(backend=other._backend) is not other._backend:
            raise ValueError(f"cannot merge a metric on {other.device} into one on {self.device}; move one first "
                             f"(load_state_dict(other.state_dict()) copies through the host)")
        for a, b in zip(self._variables, other._variables):
            if a.merge is None:
                raise ValueError(f"state {a.name!r} of {self.name} has no merge rule (Keras aggregation "
                                 f"'mean' or 'only_first_replica' cannot be merged exactly)")
            if a.merge != "concat" and a.value.shape != b.value.shape:
                raise ValueError(f"state {a.name!r} has shape {a.value.shape} here and {b.value.shape} in {other.name}")

    @atomic
    def merge_state(self, metrics):
        """Fold the states of other metrics of the same configuration into this one, in place.

        ``metrics`` is one metric or an iterable of them; each is left unchanged.
        All are checked before any state changes.
        """
        others = [metrics] if isinstance(metrics, Metric) else list(metrics)
        for other in others:
            self._check_compatible(other)
        xp = self.xp
        for other in others:
            if other._backend is None:  # an unplaced auto metric holds only initial values
                continue
            for mine, theirs in zip(self._variables, other._variables):
                array = mine.writable()
                if mine.merge == "sum":
                    array += theirs.value
                elif mine.merge == "max":
                    xp.maximum(array, theirs.value, out=array)
                elif mine.merge == "min":
                    xp.minimum(array, theirs.value, out=array)
                elif mine.merge == "moments":
                    _merge_moments(xp, array, theirs.value)
                else:
                    mine._array = xp.concatenate([array, theirs.value])

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
        ``auto`` metric is placed on the CPU.
        """
        _check_state_mapping(state)
        if strict:
            check_stamp(self, state)
        keys = sorted(k for k in state.keys() if k not in STAMP_KEYS)
        names = sorted(v.name for v in self._variables)
        if keys != names:
            missing, unknown = sorted(set(names) - set(keys)), sorted(set(keys) - set(names))
            raise ValueError(f"state dict has keys {keys}; {self.name} needs {names} (missing {missing}, unknown "
                             f"{unknown})")
        arrays = {}
        for variable in self._variables:
            array = np.asarray(state[variable.name])
            if variable.merge != "concat" and array.shape != variable.value.shape:
                raise ValueError(f"state {variable.name!r} needs shape {variable.value.shape}; got {array.shape}")
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

    def __deepcopy__(self, memo):
        clone = type(self).__new__(type(self))
        memo[id(self)] = clone
        for key, value in self.__dict__.items():
            clone.__dict__[key] = value if key == "_backend" else _copy.deepcopy(value, memo)
        return clone
