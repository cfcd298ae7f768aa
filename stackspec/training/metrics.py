"""Metrics of the train section (`metrics mae mse accuracy`), computed from raw model outputs.

Every metric takes the raw outputs of the model (`Model._predict_batch`: logits for bce and
crossentropy, also when the model ends in the sigmoid/softmax that the loss takes over, so both
forms give the same metrics), the targets and the loss name, and returns a Python float that
is a mean over the examples, so the epoch value is the batch-size-weighted mean of the batch
values (as Keras reports it).

What each metric compares:
- regression losses (mse, mae, huber): the outputs themselves;
- bce: the predicted probability sigmoid(logit) against the 0/1 target;
- crossentropy: the softmax probabilities against the one-hot label (mse is then the Brier score).
accuracy:
- crossentropy: argmax of the logits equals the label;
- bce: logit > 0 (probability > 0.5) equals target > 0.5;
- regression: the prediction rounded to the nearest integer (halves to even, numpy's rint)
  equals the target, which suits integer scores such as the wine quality.
"""

from __future__ import annotations

import numpy as np

from ..numerics import aligned_shape, sigmoid_values, softmax_values


def _compared(out: np.ndarray, y: np.ndarray, loss: str) -> tuple[np.ndarray, np.ndarray]:
    """(prediction, target) as the error metrics compare them (see the module docstring)."""
    if loss == "crossentropy":
        onehot = np.zeros(out.shape, dtype=out.dtype)
        onehot[np.arange(len(y)), y] = 1
        return softmax_values(out), onehot
    out = out.reshape(aligned_shape(out.shape, y.shape, loss))
    return (sigmoid_values(out) if loss == "bce" else out), y


def mae(out: np.ndarray, y: np.ndarray, loss: str) -> float:
    p, t = _compared(out, y, loss)
    return float(np.mean(np.abs(p - t)))


def mse(out: np.ndarray, y: np.ndarray, loss: str) -> float:
    p, t = _compared(out, y, loss)
    return float(np.mean(np.square(p - t)))


def accuracy(out: np.ndarray, y: np.ndarray, loss: str) -> float:
    if loss == "crossentropy":
        return float(np.mean(out.argmax(axis=-1) == y))
    out = out.reshape(aligned_shape(out.shape, y.shape, loss))
    if loss == "bce":
        return float(np.mean((out > 0) == (y > 0.5)))
    return float(np.mean(np.rint(out) == y))


METRICS = {"mae": mae, "mse": mse, "accuracy": accuracy}


def compute(names: list[str], out: np.ndarray, y: np.ndarray, loss: str) -> dict[str, float]:
    return {name: METRICS[name](out, y, loss) for name in names}
