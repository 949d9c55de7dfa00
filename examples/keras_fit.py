"""Keras ``fit`` on scikit-learn's breast cancer data with gpumetrics metrics beside Keras's own.

``gpumetrics.keras.wrap`` hands each gpumetrics metric to ``compile``; the History then holds both, per epoch,
for training and validation. Prints one row per epoch and fails (AssertionError) where they disagree beyond
float32 rounding (Keras keeps float32 states; AUC's evenly spaced thresholds round differently in Keras, see the
README). Runs on the Keras backend of ``KERAS_BACKEND`` (``jax`` if unset; ``torch`` works alike).

    KERAS_BACKEND=jax python examples/keras_fit.py [--epochs 3]
"""
import argparse
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_breast_cancer  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import gpumetrics  # noqa: E402
from gpumetrics.keras import wrap  # noqa: E402

NAMES = ("auc", "precision", "recall", "binary_accuracy")
RTOL = {"auc": 1e-3}  # Keras's float32 bucketing of scores; the counting metrics agree to float32 rounding


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()

    data = load_breast_cancer()
    x_train, x_val, y_train, y_val = train_test_split(data.data, data.target.astype("float32"), test_size=0.3,
                                                      random_state=0)
    scaler = StandardScaler().fit(x_train)
    x_train, x_val = scaler.transform(x_train).astype("float32"), scaler.transform(x_val).astype("float32")

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((x_train.shape[1],)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(1, activation="sigmoid")])
    ours = [wrap(gpumetrics.AUC()), wrap(gpumetrics.Precision()), wrap(gpumetrics.Recall()),
            wrap(gpumetrics.BinaryAccuracy())]
    theirs = [keras.metrics.AUC(name="keras_auc"), keras.metrics.Precision(name="keras_precision"),
              keras.metrics.Recall(name="keras_recall"), keras.metrics.BinaryAccuracy(name="keras_binary_accuracy")]
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy", metrics=ours + theirs)
    history = model.fit(x_train, y_train, batch_size=32, epochs=args.epochs, validation_data=(x_val, y_val),
                        verbose=0).history

    print(f"Keras backend: {keras.backend.backend()}; each cell: gpumetrics / Keras")
    print(f"{'epoch':>5} " + " ".join(f"| {prefix + name:>23}" for prefix in ("", "val_") for name in NAMES))
    for epoch in range(args.epochs):
        cells = []
        for prefix in ("", "val_"):
            for name in NAMES:
                mine, keras_value = history[prefix + name][epoch], history[f"{prefix}keras_{name}"][epoch]
                np.testing.assert_allclose(mine, keras_value, rtol=RTOL.get(name, 1e-6), err_msg=prefix + name)
                cells.append(f"| {mine:>11.6f} {keras_value:>11.6f}")
        print(f"{epoch:>5} " + " ".join(cells))


if __name__ == "__main__":
    main()
