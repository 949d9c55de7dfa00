"""Host code run in program order from inside a compiled Keras step, per backend that compiles its steps:
JAX (an ordered ``jax.experimental.io_callback``) and TensorFlow (``tf.py_function``, which a ``tf.function``
orders among its stateful ops). Eager calls run the same way, at once."""
import weakref

import numpy as np

COMPILED_BACKENDS = ("jax", "tensorflow")


def call(backend, fn, shape, dtype, *args):
    """``fn(*args)`` on the host with NumPy arrays (``None`` stays ``None``); its array result of ``shape`` and
    ``dtype`` comes back as a tensor of the step (a traced one while tracing).

    Refuses (``ValueError``) steps split over devices (a Keras distribution on JAX, several replicas of a
    ``tf.distribute`` strategy): each part would update the one host metric and answer with a partial result."""
    _refuse_distributed(backend)
    if backend == "jax":
        import jax
        from jax.experimental import io_callback

        if np.dtype(dtype).itemsize == 8 and not jax.config.read("jax_enable_x64"):
            raise ValueError(f"a metric result of dtype {np.dtype(dtype)} cannot come back into a JAX step while "
                             f"JAX's 64-bit types are off: build the metric with dtype='float32', or turn them on "
                             f"first (jax.config.update('jax_enable_x64', True))")
        return io_callback(fn, jax.ShapeDtypeStruct(shape, dtype), *args, ordered=True)
    import tensorflow as tf

    def host(*tensors):
        arrays = iter([t.numpy() for t in tensors])
        return fn(*(None if a is None else next(arrays) for a in args))

    value = tf.py_function(host, [a for a in args if a is not None], Tout=tf.as_dtype(dtype))
    value.set_shape(shape)
    return value


def _refuse_distributed(backend):
    if backend == "jax":
        from keras.distribution import distribution

        split = distribution() is not None
    else:
        import tensorflow as tf

        split = tf.distribute.get_strategy().num_replicas_in_sync > 1
    if split:
        raise ValueError("gpumetrics.keras does not run inside a distributed Keras step (keras.distribution on JAX, "
                         "several tf.distribute replicas); evaluate with gpumetrics on the gathered predictions")


def trace(backend):
    """An identity of the trace (JAX) or graph (TensorFlow) being built now: equal only within the same one."""
    if backend == "jax":
        from jax.extend.core import get_opaque_trace_state

        return get_opaque_trace_state()
    import tensorflow as tf

    return weakref.ref(tf.compat.v1.get_default_graph())


def barrier(backend):
    """Wait until every callback of steps already dispatched has run (both backends may dispatch asynchronously)."""
    if backend == "jax":
        import jax

        jax.effects_barrier()
    else:
        from tensorflow.python.eager import context

        context.async_wait()  # what Keras's TensorFlow trainer calls to sync
