"""``MetricCollection``: several metrics updated by one call, their passes shared where the metrics declare it.

Sharing is declared, never inferred from state values (torchmetrics' compute
groups merge metrics whose states happen to match after the first batch, and
have given silently wrong numbers for years). Each metric's ``pass_spec()``
names the pass its update runs (``gpumetrics/metrics/_passes.py``); members
whose specs have one key share one check of the batch and one launch:

* the threshold family (TP/FP/TN/FN, Precision, Recall, the ``*At*`` metrics,
  AUC, F-scores with a float ``threshold``) of one transform / ``top_k`` /
  ``class_id`` / ``label_weights``: one ``threshold_histogram`` over the union
  of their thresholds; each member's buckets are sums of union buckets;
* the IoU family of one ``num_classes`` / ``ignore_class`` / sparsity / axis /
  threshold: one ``weighted_bincount`` matrix added to every member;
* ``BinaryAccuracy`` rides that histogram when a threshold metric of its key
  leads it. Keras compares ``y_true == (y_pred > t)``, so a label outside
  {0, 1} (2, 0.3, NaN) never matches, while the histogram counts every non-zero
  label as positive: the launch then fills a third plane, the weight of such
  labels per bucket, and BinaryAccuracy subtracts it. The five-metric binary
  collection (AUC, Precision, Recall, F1Score, BinaryAccuracy) is one launch;
* everything else (mean metrics, R2Score, F-scores with ``threshold=None``)
  runs its own ``update_state``.

Results equal the standalone metrics': bitwise for a member alone in its pass
(every device), for a member at its group's union of thresholds and an IoU
member of a shared matrix (CPU), and for whole-number weights everywhere;
within float64 rounding for fractional weights in a wider union's buckets
(``_passes``'s docstring says why). ``tests/test_collection.py`` checks each.

An ``update_state`` refused for its input changes no member: every shared pass
checks its batch before anything is written (the shared launches into fresh
histograms come next, then the members' states), and the members that run
their own pass are put back from copies when a later one raises
(``metric.rolled_back``; structure too: placement, built states). A kernel that
fails on checked input (a device error) in a lone member's in-place launch can
leave the members written before it updated.
"""
import functools
import inspect
import sys
import types

import numpy as np

from ._identity import STAMP_KEYS, describe
from ._keras_guard import refuse_keras_function_wrappers
from ._masks import keras_mask_of
from .metric import UNPLACED, Metric, Variable, merge_arguments, rolled_back
from .metrics._groups import check_num_groups, with_num_groups
from .metrics._mean import MeanMetricWrapper
from .metrics._passes import group
from .registry import check_custom_objects, deserialize, serialize

_SEPARATOR = "/"


def _named(metrics):
    """``{name: metric}`` from a list (Keras's names: each metric's ``name``) or a dict (its keys)."""
    if isinstance(metrics, dict):
        named = dict(metrics)
    elif isinstance(metrics, (list, tuple)):
        named = {}
        for metric in metrics:
            name = getattr(metric, "name", None)
            if name in named:
                raise ValueError(f"two metrics of the collection are named {name!r}: give them distinct names "
                                 f"(name=...) or pass a dict")
            named[name] = metric
    else:
        raise TypeError(f"metrics must be a list or a dict of gpumetrics metrics; got {type(metrics).__name__}")
    if not named:
        raise ValueError("a MetricCollection needs at least one metric")
    for name, metric in named.items():
        if isinstance(metric, MetricCollection):
            raise TypeError(f"metrics holds a MetricCollection ({list(metric)}): collections do not nest; pass its "
                            f"members (collection.metrics) instead")
        if not isinstance(metric, Metric):
            raise TypeError(f"metrics[{name!r}] must be a gpumetrics Metric; got {type(metric).__name__}")
        check_takes_pairs(metric, "a MetricCollection")
        if not isinstance(name, str) or not name or _SEPARATOR in name:
            raise ValueError(f"metric names must be non-empty strings without {_SEPARATOR!r}; got {name!r}")
    if len({id(m) for m in named.values()}) != len(named):
        raise ValueError("a metric appears twice in the collection: give each entry its own metric")
    owners = {}
    for name, metric in named.items():  # a shallow copy (copy.copy) shares its original's states, as in Keras
        for state in [metric._variables, *metric._variables]:
            other = owners.setdefault(id(state), name)
            if other != name:
                raise ValueError(f"metrics {other!r} and {name!r} share their states (a shallow copy, copy.copy, "
                                 f"of one metric): each batch would count twice; give each entry its own metric "
                                 f"(metric.copy() is an independent one)")
    devices = {m.device for m in named.values()}
    if len(devices) > 1:
        raise ValueError(f"the metrics of a collection must share a device; got {sorted(devices)}")
    return named


def check_takes_pairs(metric, where):
    """Refuse (``TypeError``) a metric whose ``update_state`` cannot take ``(y_true, y_pred, sample_weight=...)``,
    which is how ``where`` feeds it: ``Mean`` / ``Sum`` take plain values."""
    try:
        inspect.signature(metric.update_state).bind(None, None, sample_weight=None)
    except TypeError:
        raise TypeError(f"{where} updates its metrics as update_state(y_true, y_pred, sample_weight=...); "
                        f"{metric.name!r} ({type(metric).__name__}) takes update_state"
                        f"{inspect.signature(metric.update_state)}: update it on its own") from None


def _holds_data(metric):
    """Whether ``metric``'s states differ from a reset copy's (host copies; at construction, not on an update)."""
    if not metric.is_placed:
        return False
    fresh = metric.copy()
    fresh.reset_state()
    now, then = metric.state_dict(), fresh.state_dict()
    return any(not np.array_equal(now[key], then[key], equal_nan=True) for key in now if key not in STAMP_KEYS)


def _grouped(name, metric, num_groups):
    """``metric`` with a group axis of ``num_groups``: itself when it has one, else rebuilt from its configuration
    with ``num_groups`` (on its device). Refuses another ``num_groups``, a metric that holds data (a rebuild would
    lose it), a class that takes no ``num_groups`` and one whose attributes its configuration does not restore (a
    subclass's own constructor argument: the rebuild would silently drop it)."""
    current = getattr(metric, "num_groups", None)
    if current == num_groups:
        return metric
    if current is not None:
        raise ValueError(f"metrics[{name!r}] has num_groups={current}; the collection has num_groups={num_groups}")
    if _holds_data(metric):
        raise ValueError(f"metrics[{name!r}] holds data: a collection with num_groups rebuilds its members with a "
                         f"group axis, which would lose it. Pass fresh metrics, or metrics built with "
                         f"num_groups={num_groups}")
    config = metric.get_config()
    if "fn" in config:  # a MeanMetricWrapper: its own function object (the config names it; a user's cannot resolve)
        config["fn"] = metric._fn
    try:
        lost = _lost_settings(metric, type(metric)(**config, device=metric.device))
        rebuilt = type(metric)(**config, num_groups=num_groups, device=metric.device)
    except TypeError as error:
        raise ValueError(f"metrics[{name!r}] ({type(metric).__name__}) cannot be rebuilt with "
                         f"num_groups={num_groups}: {error}") from error
    if lost:
        raise ValueError(f"metrics[{name!r}] ({type(metric).__name__}) cannot be rebuilt with num_groups="
                         f"{num_groups}: rebuilt from its get_config(), it would not keep {', '.join(lost)} "
                         f"(a constructor argument its config does not carry?). Build it with "
                         f"num_groups={num_groups} yourself, or return that argument from get_config()")
    return rebuilt


#: attributes that say where a metric is and what it holds, not how it was built
_NOT_SETTINGS = {"_variables", "_unbuilt", *UNPLACED}


def _settings(metric, states):
    """``metric``'s attributes other than ``states`` (names) and its placement (what its constructor set)."""
    return {key: value for key, value in vars(metric).items()
            if key not in _NOT_SETTINGS and key not in states and not isinstance(value, Variable)}


def _same(a, b, owners, depth=0):
    """Whether two settings are alike (host values: arrays by dtype and elements, NaN equal to NaN). ``owners`` is
    ``(metric, twin)``: where ``a`` is the metric, ``b`` must be the twin, so that a function or bound method made
    in ``__init__`` over ``self`` compares alike by code and by what else it holds; any other object must compare
    equal (by identity when it defines no ``==``: not known to be alike)."""
    if a is owners[0] or b is owners[1]:
        return a is owners[0] and b is owners[1]
    if a is b:
        return True
    if type(a) is not type(b) or depth > 8:
        return False
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
    if isinstance(a, types.MethodType):  # ``self.read = self._host``: each instance's own
        return a.__func__ is b.__func__ and _same(a.__self__, b.__self__, owners, depth + 1)
    if isinstance(a, types.FunctionType):  # a lambda over self made in __init__: one code, cells alike
        cells_a, cells_b = a.__closure__ or (), b.__closure__ or ()
        return (a.__code__ == b.__code__ and a.__globals__ is b.__globals__ and len(cells_a) == len(cells_b)
                and _same(a.__defaults__, b.__defaults__, owners, depth + 1)
                and _same(a.__kwdefaults__, b.__kwdefaults__, owners, depth + 1)
                and all(_same(_cell(x), _cell(y), owners, depth + 1) for x, y in zip(cells_a, cells_b)))
    if isinstance(a, functools.partial):
        return all(_same(x, y, owners, depth + 1) for x, y in ((a.func, b.func), (a.args, b.args),
                                                              (a.keywords, b.keywords)))
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y, owners, depth + 1) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k], owners, depth + 1) for k in a)
    try:
        return bool(a == b)
    except Exception:  # a comparison that raises or has no truth value: not known to be alike
        return False


def _cell(cell):
    """A closure cell's value; an empty cell as a marker that only another empty cell matches."""
    try:
        return cell.cell_contents
    except ValueError:
        return _EMPTY_CELL


_EMPTY_CELL = object()


def _lost_settings(metric, twin):
    """The attributes of ``metric`` that ``twin``, built from its configuration, does not have alike: what a
    rebuild from ``get_config()`` would silently drop."""
    states = {variable.name for m in (metric, twin) for variable in m._variables + m._unbuilt}
    mine, theirs = _settings(metric, states), _settings(twin, states)
    return [f"{key}={mine.get(key, '<unset>')!r}" for key in sorted(mine.keys() | theirs.keys())
            if key not in mine or key not in theirs or not _same(mine[key], theirs[key], (metric, twin))]


class MetricCollection:
    """Several metrics fed by one ``update_state``; declared passes shared (see the module docstring).

    Args:
        metrics: a list of metrics (results keyed by each metric's ``name``, which must differ) or a dict
            ``{name: metric}``. The collection owns them: update them through it.
        num_groups: None, or ``G``: every member then has a group axis of ``G`` (a member without one is rebuilt
            from its configuration with ``num_groups=G``; one that holds data, or that its configuration does not
            rebuild alike, is refused), ``update_state``
            takes ``group_ids`` (one integer per sample) and grouped passes are shared as ungrouped ones are.

    >>> import gpumetrics
    >>> c = gpumetrics.MetricCollection([gpumetrics.AUC(), gpumetrics.Precision(), gpumetrics.Recall()])
    >>> c.update_state([0, 1, 1, 0], [0.1, 0.8, 0.4, 0.6])
    >>> {k: round(float(v), 3) for k, v in c.result().items()}
    {'auc': 0.75, 'precision': 0.5, 'recall': 0.5}
    >>> c.passes()  # one shared histogram launch
    [['auc', 'precision', 'recall']]
    """

    def __init__(self, metrics, num_groups=None):
        self._from_dict = isinstance(metrics, dict)
        self.num_groups = check_num_groups(num_groups)
        self._metrics = _named(metrics)
        if self.num_groups is not None:
            self._metrics = {name: _grouped(name, m, self.num_groups) for name, m in self._metrics.items()}
        self._groups, self._own = group(list(self._metrics.values()))

    # -- members -------------------------------------------------------------------------------------------
    @property
    def metrics(self):
        """``{name: metric}`` (a new dict; the metrics are the collection's own)."""
        return dict(self._metrics)

    def __getitem__(self, name):
        return self._metrics[name]

    def __iter__(self):
        return iter(self._metrics)

    def __len__(self):
        return len(self._metrics)

    def __repr__(self):
        return f"<MetricCollection {list(self._metrics)} passes={self.passes()}>"

    def passes(self):
        """The launches of one update, by member names (in the collection's order): one list per shared pass, one
        per own pass."""
        order = {id(m): i for i, m in enumerate(self._metrics.values())}
        names = list(self._metrics)
        shared = [[names[i] for i in sorted(order[id(m)] for m in g.metrics)] for g in self._groups]
        return shared + [[names[order[id(m)]]] for m in self._own]

    # -- Keras surface ---------------------------------------------------------------------------------------
    def update_state(self, y_true, y_pred, sample_weight=None, group_ids=None):
        """Update every member with one batch: each shared pass checks, then launches, then adds into its
        members; the others run their own ``update_state``. Raises before any member changes. ``group_ids``: one
        integer per sample, for members built with ``num_groups`` (all of them then; a grouped pass is shared as an
        ungrouped one is)."""
        members = list(self._metrics.values())
        ungrouped = [name for name, m in self._metrics.items() if getattr(m, "num_groups", None) is None]
        if group_ids is not None and ungrouped:
            raise ValueError(f"group_ids given, but members {ungrouped} have no group axis (num_groups=None)")
        grouped = {} if group_ids is None else {"group_ids": group_ids}
        if keras_mask_of(y_pred) is not None and any(isinstance(m, MeanMetricWrapper) for m in members):
            # the mean members weigh the masked samples 0 and the others ignore the mask, as Keras's do: a shared
            # pass (a BinaryAccuracy riding a histogram) reads no mask, so each member updates on its own
            with rolled_back(members, values=members):
                for metric in members:
                    metric.update_state(y_true, y_pred, sample_weight=sample_weight, **grouped)
            return
        with rolled_back(members, values=self._own if len(self._own) > 1 or self._groups else ()):
            batches = [g.check(y_true, y_pred, sample_weight, group_ids) for g in self._groups]
            for metric in self._own:
                metric.update_state(y_true, y_pred, sample_weight=sample_weight, **grouped)
            feeds = [g.launch(batch) for g, batch in zip(self._groups, batches)]
            for feed in feeds:
                feed()

    def result(self):
        """``{name: result()}`` of every member."""
        return {name: metric.result() for name, metric in self._metrics.items()}

    def reset_state(self):
        for metric in self._metrics.values():
            metric.reset_state()

    def reset_states(self):
        """The older name of :meth:`reset_state`."""
        self.reset_state()

    def __call__(self, y_true, y_pred, sample_weight=None, group_ids=None):
        """``update_state`` (with ``group_ids`` for a grouped collection, as ``Metric.__call__`` passes them), then
        ``result()``."""
        refuse_keras_function_wrappers(self, sys._getframe(1))
        self.update_state(y_true, y_pred, sample_weight, group_ids)
        return self.result()

    def grouped_mean(self, weighting="samples"):
        """``{name: grouped_mean(weighting)}`` of every member (a grouped collection's; each member's reduction across
        groups, as documented on its class)."""
        if self.num_groups is None:
            raise ValueError("this MetricCollection has no group axis (num_groups=None): grouped_mean needs "
                             "MetricCollection(metrics, num_groups=G)")
        return {name: metric.grouped_mean(weighting) for name, metric in self._metrics.items()}

    def get_config(self):
        """``{"metrics": [serialize(m), ...]}`` (a dict of them, by name, for a collection made from a dict), and
        ``num_groups`` when set."""
        if self._from_dict:
            config = {"metrics": {name: serialize(m) for name, m in self._metrics.items()}}
        else:
            config = {"metrics": [serialize(m) for m in self._metrics.values()]}
        return with_num_groups(config, self.num_groups)

    @classmethod
    def from_config(cls, config, custom_objects=None, safe_mode=True):
        """The collection of ``get_config``'s dict; each member through ``gpumetrics.deserialize`` (data never
        runs code: registered classes and ``custom_objects`` only, unless ``safe_mode=False``)."""
        check_custom_objects(custom_objects)
        if not isinstance(config, dict) or "metrics" not in config or not set(config) <= {"metrics", "num_groups"}:
            raise ValueError(f"MetricCollection.from_config expects {{'metrics': [...]}} and optionally num_groups "
                             f"(get_config's); got {config!r}")
        listed, num_groups = config["metrics"], config.get("num_groups")
        if isinstance(listed, dict):
            return cls({name: deserialize(c, custom_objects, safe_mode) for name, c in listed.items()}, num_groups)
        if not isinstance(listed, list):
            raise TypeError(f"config['metrics'] must be a list or a dict; got {type(listed).__name__}")
        return cls([deserialize(c, custom_objects, safe_mode) for c in listed], num_groups)

    # -- beyond Keras: merging, state dicts, copies ---------------------------------------------------------
    def _check_same(self, other):
        if not isinstance(other, MetricCollection):
            raise TypeError(f"cannot merge a {type(other).__name__} into a MetricCollection")
        if list(other) != list(self):
            raise ValueError(f"cannot merge collections of other members: {list(other)} into {list(self)}")
        for name, metric in self._metrics.items():
            if describe(metric) != describe(other[name]):
                raise ValueError(f"cannot merge collections whose {name!r} differ: {describe(other[name])} into "
                                 f"{describe(metric)}")

    def merge_state(self, collections):
        """Fold other collections of the same members (names, classes, configurations) into this one, member by
        member; all are checked first, and a merge that raises changes nothing."""
        others = merge_arguments(collections, self, MetricCollection)
        for other in others:
            self._check_same(other)
        with rolled_back(self._metrics.values(), values=self._metrics.values()):
            for name, metric in self._metrics.items():
                metric.merge_state([other[name] for other in others])

    def state_dict(self):
        """Every member's ``state_dict`` (its stamp included), keys ``"name/key"``: one flat dict of host arrays
        for ``numpy.savez``.  # synchronize!"""
        return {f"{name}{_SEPARATOR}{key}": array for name, metric in self._metrics.items()
                for key, array in metric.state_dict().items()}

    def load_state_dict(self, state, *, strict=True):
        """Load ``state_dict``'s dict into the members (each checks its own stamp and arrays); all or nothing."""
        if not hasattr(state, "keys") or not hasattr(state, "__getitem__"):
            raise TypeError(f"state must be a mapping of 'name/key' to arrays (a state_dict()); got "
                            f"{type(state).__name__}")
        parts = {name: {} for name in self._metrics}
        for key in state.keys():
            name, _, inner = str(key).partition(_SEPARATOR)
            if name not in parts or not inner:
                raise ValueError(f"state dict key {key!r} names no member of the collection {list(self._metrics)}")
            parts[name][inner] = state[key]
        empty = [name for name, part in parts.items() if not set(part) - set(STAMP_KEYS)]
        if empty and any(self._metrics[name].variables for name in empty):
            raise ValueError(f"state dict holds no states for {empty}")
        with rolled_back(self._metrics.values(), values=self._metrics.values()):
            for name, metric in self._metrics.items():
                metric.load_state_dict(parts[name], strict=strict)

    def copy_with(self, members):
        """A collection of this one's form, names and ``num_groups`` holding ``members`` (in this collection's
        order)."""
        return MetricCollection(dict(zip(self._metrics, members)) if self._from_dict else list(members),
                                self.num_groups)

    def copy(self):
        """An independent collection: each member's ``copy()``."""
        return self.copy_with([m.copy() for m in self._metrics.values()])

    def blank(self):
        """The same members' ``blank()`` (configuration, no state, no device): what ``dask.evaluate`` sends."""
        return self.copy_with([m.blank() for m in self._metrics.values()])
