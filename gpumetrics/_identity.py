"""What a metric is, as plain data: its class and configuration, and an 8-byte digest of such data.

Two metrics may combine states only when these agree: ``state_dict`` carries them (which metric may load a
state) and ``distributed.sync`` all-gathers their digest with the state layouts (which ranks may merge). Strings
and numbers only, so a state file or a peer's header is read as data and never runs code.
"""
import hashlib
import json

import numpy as np


def describe(metric):
    """``{"class": "module.QualName", "config": get_config() less "name"}`` (the name is a label, not a setting)."""
    return {"class": f"{type(metric).__module__}.{type(metric).__qualname__}",
            "config": {k: v for k, v in metric.get_config().items() if k != "name"}}


def digest(data):
    """An 8-byte digest of ``data`` (JSON with sorted keys; values JSON cannot hold by their repr), a signed int."""
    text = json.dumps(data, sort_keys=True, default=repr)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little", signed=True)


#: the entries ``state_dict`` writes beside the states: the class that saved them and the digest of ``describe``
CLASS_KEY, FINGERPRINT_KEY = "__class__", "__fingerprint__"
STAMP_KEYS = (CLASS_KEY, FINGERPRINT_KEY)


def stamp(metric):
    """The state-dict entries that say which metric saved the states: a string and an int64 (plain arrays, so
    ``numpy.savez`` / ``numpy.load`` keep them without pickling)."""
    identity = describe(metric)
    return {CLASS_KEY: np.array(identity["class"]), FINGERPRINT_KEY: np.array(digest(identity), dtype=np.int64)}


def _entry(state, key, kinds, what):
    array = np.asarray(state[key])
    if array.ndim != 0 or array.dtype.kind not in kinds:
        raise ValueError(f"state dict entry {key!r} must be {what}; got dtype {array.dtype} of shape {array.shape}")
    return array.item()


def check_stamp(metric, state):
    """Refuse (``ValueError``) a state dict that does not say which metric saved it, or that a metric of another
    class or configuration saved: its numbers would be read with this metric's meaning."""
    hint = f"pass strict=False to load the arrays into {metric.name} anyway"
    missing = [key for key in STAMP_KEYS if key not in state]
    if missing:
        raise ValueError(f"state dict has no {' / '.join(map(repr, missing))} entry, so it does not say which metric "
                         f"saved it (state_dict() writes both); {hint}")
    identity = describe(metric)
    saved_class = _entry(state, CLASS_KEY, "U", "a class name (a string)")
    if saved_class != identity["class"]:
        raise ValueError(f"state dict was saved by a {saved_class}; {metric.name} is a {identity['class']}; {hint}")
    saved, mine = _entry(state, FINGERPRINT_KEY, "i", "an integer fingerprint"), digest(identity)
    if saved != mine:
        raise ValueError(f"state dict was saved by a {saved_class} of another configuration (fingerprint {saved}; "
                         f"{metric.name} has {mine}, configuration {identity['config']}); {hint}")
