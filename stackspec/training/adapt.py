"""The adapt step: the statistics of the layers that standardize the raw input (`normalize`,
Keras's Normalization.adapt), computed from the training split before the first step.

fit.py runs it at the start of every fit, so a second fit, or continued training of a model
loaded from a weight file, adapts again to the data it is given; validation data is never seen. The
statistics are exact: two passes in float64 (the mean, then the mean squared deviation), in
chunks, so a feature such as 1e6 + small noise keeps its variance, which float32 sums or
E[x^2] - E[x]^2 would lose, and no float64 copy of the whole set is made.
"""

from __future__ import annotations

import numpy as np

from ..layers import LAYERS

CHUNK = 65536  # rows converted to float64 at a time


def adapt(model, X: np.ndarray) -> None:
    """Set the state of `model`'s adapted layer (the first layer only, E214) from X, which is
    shaped (N, *input)."""
    nodes = [n for n in model.ir.nodes if n.op in LAYERS and LAYERS[n.op].adapted]
    if not nodes:
        return
    keys = nodes[0].keys()
    mean, var = moments(X)
    weights = model.get_weights()
    weights[keys["mean"]], weights[keys["var"]] = mean, var
    model.set_weights(weights)


def moments(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The population mean and variance of X (N, F) per feature or (N, C, H, W) per channel,
    accumulated in float64; returned as float32, the weight file's type."""
    axes = (0,) if X.ndim == 2 else (0, 2, 3)
    count = X.size // X.shape[1]
    total = np.zeros(X.shape[1], np.float64)
    for start in range(0, len(X), CHUNK):
        total += X[start : start + CHUNK].sum(axis=axes, dtype=np.float64)
    mean = total / count
    shape = (1, -1) + (1,) * (X.ndim - 2)
    squares = np.zeros(X.shape[1], np.float64)
    for start in range(0, len(X), CHUNK):
        deviation = X[start : start + CHUNK].astype(np.float64) - mean.reshape(shape)
        squares += np.square(deviation).sum(axis=axes)
    return mean.astype(np.float32), (squares / count).astype(np.float32)
