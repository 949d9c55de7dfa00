"""Which per-sample function a ``MeanMetricWrapper`` config's ``fn`` names, resolved without running code, and
Keras's check of the keyword arguments given for it."""
import dis
import functools
import hashlib
import importlib
import inspect
import types

import numpy as np

from ..registry import check_custom_objects, check_safe_mode


def function_path(fn):
    """The ``"module:qualname"`` path of ``fn`` that ``get_config`` writes."""
    return f"{fn.__module__}:{fn.__qualname__}"


def named_alike(fn):
    """Whether ``fn`` is a lambda or a local function, whose path names every other one of its kind alike
    (``'module:<lambda>'``, ``'...factory.<locals>.fn'``)."""
    return "<" in function_path(fn)


def _plain(value, depth):
    """``value`` as plain data when it is a setting a function can close over (a number, a string, a NumPy array,
    a tuple / list / dict of those, another function); else its type's name, the most that can be said of it."""
    if value is None or isinstance(value, (bool, int, float, complex, str, bytes)):
        return repr(value)
    if isinstance(value, np.generic):
        return f"{value.dtype}:{value!r}"
    if isinstance(value, np.ndarray) and not value.dtype.hasobject:
        return [str(value.dtype), list(value.shape), hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()]
    if isinstance(value, (tuple, list)) and depth < 4:
        return [type(value).__name__, *(_plain(v, depth + 1) for v in value)]
    if isinstance(value, dict) and depth < 4:
        return {repr(k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, types.CodeType) and depth < 8:
        return _code(value, depth + 1)
    if isinstance(value, types.FunctionType) and depth < 8:
        return function_identity(value, depth + 1)
    if isinstance(value, functools.partial) and depth < 8:
        return ["partial", _plain(value.func, depth + 1), _plain(value.args, depth + 1),
                _plain(value.keywords, depth + 1)]
    return f"<{type(value).__module__}.{type(value).__qualname__}>"


def _code(code, depth):
    return [code.co_code.hex(), [_plain(c, depth) for c in code.co_consts], list(code.co_names)]


def function_identity(fn, depth=0):
    """What a lambda or local function computes, as plain data for ``distributed.sync`` to compare across ranks
    (their configs name them alike): its bytecode and constants, its defaults, the values it closes over and the
    plain module globals it reads. Not for state files: bytecode changes with the Python version."""
    if not isinstance(fn, types.FunctionType):
        return _plain(fn, depth)
    read = _globals_read(fn.__code__)
    named = {name: _plain(fn.__globals__[name], 0) for name in sorted(read) if name in fn.__globals__
             and not isinstance(fn.__globals__[name], (types.ModuleType, types.FunctionType, type))}
    return {"code": _code(fn.__code__, depth), "defaults": _plain(fn.__defaults__, depth),
            "keyword_defaults": _plain(fn.__kwdefaults__, depth), "globals": named,
            "closure": [_plain(cell.cell_contents, depth) for cell in fn.__closure__ or ()
                        if _filled(cell)]}


def _globals_read(code, depth=0):
    """The global names ``code`` loads, its nested code's too (a comprehension's or generator expression's, a
    lambda's within: they read the function's globals)."""
    read = {i.argval for i in dis.get_instructions(code) if i.opname == "LOAD_GLOBAL"}
    for const in code.co_consts:
        if isinstance(const, types.CodeType) and depth < 8:
            read |= _globals_read(const, depth + 1)
    return read


def _filled(cell):
    try:
        cell.cell_contents
    except ValueError:  # an empty cell: a name the enclosing function had not bound yet
        return False
    return True


def registered_functions():
    """``{identifier: function}`` of this package's per-sample functions (the functions of
    ``gpumetrics.metrics.__all__``), each under its name and the ``"module:qualname"`` path ``get_config`` writes."""
    from . import __all__ as names
    from .. import metrics

    table = {}
    for name in names:
        fn = getattr(metrics, name)
        if inspect.isfunction(fn):
            table[name] = table[function_path(fn)] = fn
    return table


def resolve_function(fn, custom_objects=None, safe_mode=True):
    """The per-sample function a config's ``fn`` names; data never runs code.

    ``fn`` resolves to one of this package's registered per-sample functions
    (``"mean_squared_error"`` or its ``"module:qualname"`` path) or to an object
    the caller passes in ``custom_objects`` (under the whole string or under the
    name after ``":"``). Only with ``safe_mode=False`` is any other
    ``"module:qualname"`` imported and looked up, which runs that module's code:
    do that only for configs you trust. Anything else raises ``ValueError`` /
    ``TypeError`` naming ``fn``. Keras's serialised function (a dict whose ``"config"`` is the function's name)
    resolves by that name in the same way; its ``"module"`` is never imported.
    """
    check_safe_mode(safe_mode)
    if callable(fn) and not isinstance(fn, str):
        return fn
    if isinstance(fn, dict) and fn.get("class_name") == "function" and isinstance(fn.get("config"), str):
        fn = fn["config"]  # Keras's form of a function ({"module": ..., "config": name}): looked up by its name only
    if not isinstance(fn, str):
        raise TypeError(f"fn must be a function or the name of a registered per-sample function; "
                        f"got {type(fn).__name__} {fn!r}")
    check_custom_objects(custom_objects)
    custom = custom_objects or {}
    for key in (fn, fn.rpartition(":")[2]):
        if key in custom:
            target = custom[key]
            if not callable(target):
                raise TypeError(f"fn={fn!r}: custom_objects[{key!r}] is {type(target).__name__}, not a callable")
            return target
    table = registered_functions()
    if fn in table:
        return table[fn]
    if "<lambda>" in fn or "<locals>" in fn:
        raise ValueError(f"fn={fn!r} is a lambda or a local function, which a config cannot name (Keras's safe "
                         f"mode refuses lambdas too); pass the function itself in custom_objects="
                         f"{{{fn!r}: function}}")
    if not safe_mode:
        module, sep, qualname = fn.partition(":")
        if not (sep and module and qualname):
            raise ValueError(f"fn={fn!r} is neither a registered per-sample function nor a 'module:qualname' path")
        try:
            target = importlib.import_module(module)
            for part in qualname.split("."):
                target = getattr(target, part)
        except (ImportError, AttributeError) as error:
            raise ValueError(f"fn={fn!r} could not be resolved: {error}") from error
        if not callable(target):
            raise TypeError(f"fn={fn!r} names a {type(target).__name__}, not a callable")
        return target
    raise ValueError(f"fn={fn!r} is not a registered per-sample function of gpumetrics (one of "
                     f"{sorted(k for k in table if ':' not in k)}); pass your own function in "
                     f"custom_objects={{{fn.rpartition(':')[2]!r}: function}}, or, for a config you trust, "
                     f"safe_mode=False to import arbitrary 'module:qualname' paths (this runs code)")


def check_fn_kwargs(fn, kwargs):
    """Keras's rule: a keyword ``fn`` does not accept is a TypeError at construction, not at the first update."""
    if not kwargs:
        return
    try:
        parameters = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # no signature to read (a builtin, a C function): nothing to check
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    taken = {p.name for p in positional[:2]}  # y_true and y_pred are passed by position
    accepted = {p.name for p in parameters
                if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in taken}
    unknown = sorted(k for k in kwargs if k not in accepted)
    if unknown:
        name = getattr(fn, "__name__", type(fn).__name__)
        raise TypeError(f"{name}() does not accept the keyword argument(s) {', '.join(map(repr, unknown))} "
                        f"given to MeanMetricWrapper; it accepts {sorted(accepted)}")
