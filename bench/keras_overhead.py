"""Per-step cost of ``gpumetrics.keras.wrap`` in ``model.fit`` beside Keras's own metric, per Keras backend.

One child process per backend (Keras fixes its backend once per process) fits the same small model
(``Dense(64) -> Dense(1, sigmoid)`` on 32 features, batch 256) three ways: no metric, ``keras.metrics.AUC()``,
``gpumetrics.keras.wrap(gpumetrics.AUC())`` (both 200 thresholds). Each way is fitted once to compile, then the
ways take turns, ``--repeats`` fits each of ``--steps`` steps; the median seconds per step is reported, and each
metric's overhead is its median minus the no-metric median. PyTorch runs on one thread. The load average (1 min)
is printed: on a shared machine it says how much the numbers are worth.

    python bench/keras_overhead.py [--backends torch jax] [--steps 200] [--repeats 5]
"""
import argparse
import json
import os
import subprocess
import sys

CHILD = r"""
import json, statistics, sys, time
import numpy as np
import keras
import gpumetrics
from gpumetrics.keras import wrap

steps, repeats, batch = int(sys.argv[1]), int(sys.argv[2]), 256
if keras.backend.backend() == "torch":
    import torch

    torch.set_num_threads(1)  # on a shared machine, intra-op threads waiting for a busy core swamp the step time
rng = np.random.default_rng(0)
x = rng.normal(size=(steps * batch, 32)).astype("float32")
y = (x[:, :4].sum(axis=1) + rng.normal(size=len(x)) > 0).astype("float32")[:, None]
ways = {"none": lambda: [], "keras AUC": lambda: [keras.metrics.AUC()],
        "gpumetrics AUC": lambda: [wrap(gpumetrics.AUC())]}
models = {}
for way, metrics in ways.items():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((32,)), keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=metrics())
    model.fit(x[:4 * batch], y[:4 * batch], batch_size=batch, epochs=1, verbose=0)  # compile, warm the kernels
    models[way] = model
times = {way: [] for way in ways}
for _ in range(repeats):  # the ways take turns, so a busy spell of the machine hits all of them alike
    for way, model in models.items():
        start = time.perf_counter()
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
        times[way].append((time.perf_counter() - start) / steps)
out = {way: statistics.median(t) for way, t in times.items()}
print(json.dumps(out))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["torch", "jax"])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"load average (1 min): {os.getloadavg()[0]:.2f}")
    for backend in args.backends:
        env = {**os.environ, "KERAS_BACKEND": backend}
        done = subprocess.run([sys.executable, "-c", CHILD, str(args.steps), str(args.repeats)], env=env,
                              capture_output=True, text=True, check=True)
        per_step = json.loads(done.stdout.strip().splitlines()[-1])
        base = per_step["none"]
        cells = ", ".join(f"{way} {1e6 * (t - base):+.0f} µs" for way, t in per_step.items() if way != "none")
        print(f"{backend}: {1e6 * base:.0f} µs per step without a metric; overhead per step: {cells}")


if __name__ == "__main__":
    main()
