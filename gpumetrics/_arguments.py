"""Constructor-argument checks shared by every metric family: each refuses at construction, naming the argument
and the value seen, so a bad argument never reaches a kernel (a hang, a huge allocation, a silent misreading).

Type refusals raise ``ArgumentTypeError``, a ``TypeError`` that is also a ``ValueError`` (Keras raises
``ValueError`` for several of these); out-of-range values raise ``ValueError``.
"""
import functools
import inspect
import math
import numbers

import numpy as np

#: result dtypes a metric accepts (Keras 3 also accepts integer and bool dtypes for ``Mean``; a metric's
#: result is a ratio or a sum of weights, which those dtypes truncate or turn into a bool).
FLOAT_DTYPES = ("float16", "float32", "float64")
#: ``num_thresholds`` above this would allocate and scan millions of buckets per label.
MAX_NUM_THRESHOLDS = 2 ** 20
#: the IoU state is a float64 ``num_classes x num_classes`` matrix: 2**16 classes are already 32 GiB.
MAX_NUM_CLASSES = 2 ** 16
#: ``k`` / ``top_k`` / ``class_id`` travel to kernels as 32-bit indices or float64 parameters.
MAX_INDEX = 2 ** 31 - 1
#: class ids (``ignore_class``) are compared as int64.
INT64_MIN, INT64_MAX = -2 ** 63, 2 ** 63 - 1
#: NumPy arrays have at most 64 axes.
MAX_AXES = 64


class ArgumentTypeError(TypeError, ValueError):
    """A constructor argument of the wrong type (catchable as ``TypeError`` or ``ValueError``)."""


def is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_real(value):
    return isinstance(value, (numbers.Real, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def check_dtype(dtype, name="dtype", default="float32", extra=()):
    """The canonical name of a result dtype: None (``default``), ``"float16"`` / ``"float32"`` / ``"float64"``, a
    NumPy floating dtype or scalar type of those widths, Python ``float`` (``"float32"``, as Keras's
    ``standardize_dtype``) or a Keras ``DTypePolicy`` or policy name (its compute dtype: ``"mixed_float16"`` computes
    in float16, as a Keras metric given it does); ``extra`` names more accepted spellings.

    >>> check_dtype(None), check_dtype(np.float64), check_dtype(float), check_dtype("mixed_float16")
    ('float32', 'float64', 'float32', 'float16')
    """
    if dtype is None:
        return default
    if dtype is float:
        return "float32"
    seen = dtype
    if not isinstance(dtype, (str, np.dtype, type)) and isinstance(getattr(dtype, "compute_dtype", None), str):
        dtype = dtype.compute_dtype  # keras.DTypePolicy
    if isinstance(dtype, str):
        if dtype in ("mixed_float16", "mixed_bfloat16"):  # Keras's two policy names: their compute dtype (bfloat16
            dtype = dtype.removeprefix("mixed_")  # is refused); Keras refuses "mixed_float32", "mixed_int32", ...
        canonical = dtype if dtype in FLOAT_DTYPES + tuple(extra) else None
    elif isinstance(dtype, np.dtype) or (isinstance(dtype, type) and issubclass(dtype, np.generic)):
        canonical = np.dtype(dtype).name if np.dtype(dtype).name in FLOAT_DTYPES + tuple(extra) else None
    else:
        canonical = None
    if canonical is None:
        allowed = ", ".join(FLOAT_DTYPES + tuple(extra))
        raise ArgumentTypeError(f"{name} must be None or one of {allowed} (a name, a NumPy dtype, or Python float); "
                                f"got {name}={seen!r}")
    return canonical


def check_int(value, name, low=None, high=None, *, optional=False, rule=None):
    """``value`` as a Python int: a real integer (not bool, float or str) in ``[low, high]``, or None if ``optional``.

    ``rule`` words the range in the message (default ``">= low"`` / ``"in [low, high]"``).
    """
    if value is None and optional:
        return None
    if rule is None:
        rule = (f"in [{low}, {high}]" if low is not None and high is not None else
                f">= {low}" if low is not None else f"<= {high}" if high is not None else "")
    wording = f"{name} must be {'None or ' if optional else ''}an integer {rule}".rstrip()
    if not is_int(value):
        raise ArgumentTypeError(f"{wording}; got {name}={value!r} of type {type(value).__name__}")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{wording}; got {name}={value}")
    return value


def check_axis(value, name="axis"):
    """An axis: an integer in ``[-64, 63]`` (NumPy's most axes), checked against the input's rank at update."""
    return check_int(value, name, -MAX_AXES, MAX_AXES - 1)


def check_real(value, name, low=None, high=None, *, optional=False):
    """``value`` as a Python float: a real number (not bool, str or NaN) in ``[low, high]``, or None if ``optional``."""
    if value is None and optional:
        return None
    rule = (f" in [{low}, {high}]" if low is not None and high is not None else
            f" >= {low}" if low is not None else f" <= {high}" if high is not None else "")
    wording = f"{name} must be {'None or ' if optional else ''}a real number{rule}"
    if not is_real(value):
        raise ArgumentTypeError(f"{wording}; got {name}={value!r} of type {type(value).__name__}")
    number = float(value)
    if math.isnan(number) or (low is not None and number < low) or (high is not None and number > high):
        raise ValueError(f"{wording}; got {name}={value!r}")
    return number


def keyword_checks(**checks):
    """Declares on a per-sample function's ``def`` how its keyword arguments are checked, ``{name: check}`` with
    ``check(value, name)`` returning the value or raising naming it: the function checks what it is given when
    called, and ``MeanMetricWrapper`` when it is built (``checked_keywords``), as the classes' constructors do.

    >>> @keyword_checks(k=functools.partial(check_int, low=1))
    ... def top(y_true, y_pred, k=5):
    ...     return k
    >>> top(None, None, k=2.5)
    Traceback (most recent call last):
    ...
    gpumetrics._arguments.ArgumentTypeError: k must be an integer >= 1; got k=2.5 of type float
    """

    def declare(fn):
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def checked(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            for name in checks.keys() & bound.arguments.keys():
                bound.arguments[name] = checks[name](bound.arguments[name], name)
            return fn(*bound.args, **bound.kwargs)

        checked.keyword_checks = checks
        return checked

    return declare


def checked_keywords(fn, kwargs):
    """``kwargs`` for ``fn`` as its declared ``keyword_checks`` return them (the others as given)."""
    checks = getattr(fn, "keyword_checks", {})
    return {name: checks[name](value, name) if name in checks else value for name, value in kwargs.items()}


#: the checks of the per-sample functions' keyword arguments, by meaning
CHECK_K = functools.partial(check_int, low=1, high=MAX_INDEX)
CHECK_CLASS_ID = functools.partial(check_int, low=INT64_MIN, high=INT64_MAX, optional=True)
