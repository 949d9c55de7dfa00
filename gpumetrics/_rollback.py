"""A rejected call changes nothing: ``atomic`` makes a metric method leave the metric as it was when it raises.

Every check runs before a kernel writes a state, so the state values need no copy. What a call can change before
it is refused is the metric's structure: the device of an ``auto`` metric (placed by its first input, state dict
or merge), the states declared with a ``None`` dimension (``Metric.add_state``: ``AUC(multi_label=True)``, the
F-scores, ``R2Score``) that a batch, a state dict or a merge builds, and the device constants cached for it.
``atomic`` saves that structure and puts it back when the call raises (a refused input, a failed kernel, an
interrupt). A metric already placed and built has no structure left to change, so its calls pay one check.
"""
import functools


def _snapshot(metric):
    """The metric's attributes (containers copied one level down) and the array each state holds."""
    attributes = {key: value.copy() if isinstance(value, (list, dict, set)) else value
                  for key, value in metric.__dict__.items()}
    return attributes, [(variable, variable._array) for variable in metric._variables]


def _restore(metric, snapshot):
    attributes, arrays = snapshot
    metric.__dict__.clear()
    metric.__dict__.update(attributes)
    for variable, array in arrays:
        variable._array = array


def atomic(method):
    """``method`` of a metric, undone (structure only: device, built states, cached constants) when it raises."""

    @functools.wraps(method)
    def call(metric, *args, **kwargs):
        if metric._backend is not None and metric._built():
            return method(metric, *args, **kwargs)
        snapshot = _snapshot(metric)
        try:
            return method(metric, *args, **kwargs)
        except BaseException:
            _restore(metric, snapshot)
            raise

    return call
