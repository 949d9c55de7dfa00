"""Named, typed rules of a primitive: a code for the kernels' switch, a scalar function, named parameters.

Imports no Numba. A primitive's ``rules.py`` declares its kinds with
:func:`declare`; metrics name a kind and pass its parameters by name
(``KINDS["huber"].pack(delta=1.0)``), and only the kernels see codes and the
float64 parameter vector. :func:`make_switch` builds the one function a
kernel calls, ``evaluate(code, *args)``, from the rules compiled by whichever
Numba target the twin uses.
"""
import types


class Kind:
    """One rule of a primitive: ``name``, ``code`` (its branch in the kernels' switch), ``rule`` (the scalar
    function), ``params`` (the names of its float parameters, in the order the kernel reads them) and
    ``primitive`` (the room whose kernels run it, e.g. ``"error_sums"``; the backend's ``sums`` dispatches on it)."""

    __slots__ = ("name", "code", "rule", "params", "primitive")

    def __init__(self, name, code, rule, params, primitive=None):
        self.name, self.code, self.rule, self.params, self.primitive = name, code, rule, tuple(params), primitive

    def pack(self, **values):
        """The parameters as the float64 vector the kernel reads, from keyword values, each named exactly once.

        >>> kind = Kind("huber", 0, None, ("delta",))
        >>> kind.pack(delta=2)
        (2.0,)
        >>> kind.pack(delta=1.0, beta=2.0)
        Traceback (most recent call last):
        ...
        TypeError: huber takes the parameters ('delta',); got ['beta', 'delta']
        """
        if not values and not self.params:  # a kind without parameters, the common case
            return ()
        if set(values) != set(self.params):
            raise TypeError(f"{self.name} takes the parameters {self.params}; got {sorted(values)}")
        packed = []
        for name in self.params:
            value = values[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
                raise TypeError(f"parameter {name} of {self.name} must be a number; got {value!r}")
            packed.append(float(value))
        return tuple(packed)

    def __repr__(self):
        return f"<kind {self.name} (code {self.code}; params {', '.join(self.params) or 'none'})>"


def declare(*entries, primitive=None):
    """``{name: Kind}`` from ``(rule, (param names...))`` entries of the room ``primitive``; codes follow the order
    given."""
    kinds = {}
    for code, (rule, params) in enumerate(entries):
        kinds[rule.__name__] = Kind(rule.__name__, code, rule, params, primitive)
    return kinds


def make_switch(kinds, jit, arity, helper_jit=None, switch_jit=None):
    """``evaluate(code, a1, ..., a_arity)``: calls the rule of ``code``, each rule compiled by ``jit``, the helpers
    the rules call by ``helper_jit`` and the switch itself by ``switch_jit`` (both default to ``jit``: an inlining
    one suits what runs per element, a plain one keeps large rules from being compiled into every caller).

    Generated once per twin: a chain of ``if code == k`` branches the compiler
    keeps (the code is uniform over a launch, so the branch predictor or the
    warp takes one path). The kernels that call it are module-level functions,
    so Numba's on-disk cache stores them with this switch inlined.
    """
    ordered = sorted(kinds.values(), key=lambda kind: kind.code)
    compiled = {}
    namespace = {f"rule_{kind.code}": retarget(kind.rule, jit, compiled, helper_jit) for kind in ordered}
    args = ", ".join(f"a{i}" for i in range(arity))
    lines = [f"def evaluate(code, {args}):"]
    for kind in ordered[:-1]:
        lines.append(f"    if code == {kind.code}:\n        return rule_{kind.code}({args})")
    lines.append(f"    return rule_{ordered[-1].code}({args})")
    exec(compile("\n".join(lines), f"<switch of {len(ordered)} kinds>", "exec"), namespace)
    return (switch_jit or jit)(namespace["evaluate"])


def retarget(fn, jit, _done=None, helper_jit=None):
    """``fn`` compiled by ``jit`` (``numba.njit(...)``, ``cuda.jit(device=True)``), after every plain function of
    this package it calls is compiled by ``helper_jit`` (default ``jit``), and so on down: rules and their helpers
    stay plain Python (importable and testable without Numba), and each twin compiles the whole call tree for its
    own target."""
    done = {} if _done is None else _done
    helper_jit = helper_jit or jit
    if fn not in done:
        package = fn.__module__.split(".", 1)[0]
        globals_ = dict(fn.__globals__)
        for name in fn.__code__.co_names:
            value = globals_.get(name)
            if isinstance(value, types.FunctionType) and value.__module__.split(".", 1)[0] == package:
                globals_[name] = retarget(value, helper_jit, done)
        copy = types.FunctionType(fn.__code__, globals_, fn.__name__, fn.__defaults__, fn.__closure__)
        copy.__qualname__, copy.__module__, copy.__doc__ = fn.__qualname__, fn.__module__, fn.__doc__
        done[fn] = jit(copy)
    return done[fn]
