"""A PyTorch training loop on scikit-learn's digits with gpumetrics metrics beside torchmetrics and torch's loss.

Training metrics are updated on every batch with the logits the loss saw (tensors that require grad: read
without a copy) and reset per epoch; after each epoch the held-out split is evaluated. Prints one row per epoch
and fails (AssertionError) where gpumetrics and the reference disagree.

    python examples/torch_training_loop.py [--epochs 3]
"""
import argparse

import numpy as np
import torch
import torchmetrics
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import gpumetrics

CLASSES = 10


def batches(x, y, size, shuffle_with=None):
    order = torch.randperm(len(x), generator=shuffle_with) if shuffle_with is not None else torch.arange(len(x))
    for start in range(0, len(x), size):
        index = order[start:start + size]
        yield x[index], y[index]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()

    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(digits.data / 16.0, digits.target, test_size=0.3,
                                                        random_state=0)
    x_train, x_test = (torch.tensor(a, dtype=torch.float32) for a in (x_train, x_test))
    y_train, y_test = (torch.tensor(a) for a in (y_train, y_test))
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, CLASSES))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)

    train_loss = gpumetrics.SparseCategoricalCrossentropy(from_logits=True)
    train_accuracy = gpumetrics.SparseCategoricalAccuracy()
    test_accuracy = gpumetrics.SparseCategoricalAccuracy()
    test_top3 = gpumetrics.SparseTopKCategoricalAccuracy(k=3)
    reference_accuracy = torchmetrics.classification.MulticlassAccuracy(CLASSES, average="micro")
    reference_top3 = torchmetrics.classification.MulticlassAccuracy(CLASSES, top_k=3, average="micro")

    print(f"{'epoch':>5} | {'train loss':>21} | {'train acc':>9} | {'test acc':>21} | {'test top-3 acc':>21}")
    print(f"{'':>5} | {'gpumetrics / torch':>21} | {'':>9} | {'gpumetrics / torchm.':>21} | "
          f"{'gpumetrics / torchm.':>21}")
    for epoch in range(args.epochs):
        for metric in (train_loss, train_accuracy, test_accuracy, test_top3):
            metric.reset_state()
        reference_accuracy.reset()
        reference_top3.reset()
        loss_sum, count = 0.0, 0
        model.train()
        for x, y in batches(x_train, y_train, 64, torch.Generator().manual_seed(epoch)):
            logits = model(x)
            loss = torch.nn.functional.cross_entropy(logits, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            train_loss.update_state(y, logits)  # logits require grad: read as they are, no copy
            train_accuracy.update_state(y, logits)
            loss_sum, count = loss_sum + loss.item() * len(y), count + len(y)
        model.eval()
        with torch.no_grad():
            for x, y in batches(x_test, y_test, 128):
                logits = model(x)
                test_accuracy.update_state(y, logits)
                test_top3.update_state(y, logits)
                reference_accuracy.update(logits, y)
                reference_top3.update(logits, y)
        rows = [(float(train_loss.result()), loss_sum / count), (float(test_accuracy.result()),
                float(reference_accuracy.compute())), (float(test_top3.result()), float(reference_top3.compute()))]
        print(f"{epoch:>5} | {rows[0][0]:>10.6f} {rows[0][1]:>10.6f} | {float(train_accuracy.result()):>9.6f} | "
              f"{rows[1][0]:>10.6f} {rows[1][1]:>10.6f} | {rows[2][0]:>10.6f} {rows[2][1]:>10.6f}")
        for ours, reference in rows:
            np.testing.assert_allclose(ours, reference, rtol=1e-5)


if __name__ == "__main__":
    main()
