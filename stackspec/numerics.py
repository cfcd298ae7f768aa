"""Backend-neutral numerics on NumPy arrays: output probabilities and the losses (§5, §6).

The training runtime (fit.py, metrics.py, model.py) evaluates every backend's raw outputs with
these, and the NumPy backend trains with them, so neither imports the other. sigmoid_values and
softmax_values are also the NumPy backend's evaluation of those activations, so `compile --emit
python` copies them from here: like every evaluation function they may read only `np`,
builtins and module-level definitions of their module.

`loss` is the IR's loss dict, e.g. {"name": "huber", "delta": 1.0}. `loss_and_grad` gives the
value and d(loss)/d(pred) for training; `loss_value` the value only (validation, evaluate).
bce and crossentropy read logits: for a model that ends in the sigmoid/softmax fused with them
(§6) the backends pass the values before it (`IR.logit_nodes()`), so the loss is the exact
log-sigmoid/log-softmax of Keras's from_logits=False, without clipping the probabilities.
Each entry of LOSSES maps (pred, y, scale, **params) -> (values, grad). Gradients are fresh
arrays in pred's dtype and shape (a backprop may overwrite them). Per-example weights (class and
sample weights, LANGUAGE.md §12) weigh each example's loss as Keras does (loss_and_grad).
"""

from __future__ import annotations

import numpy as np

from .diagnostics import array_shape


def aligned_shape(out_shape: tuple, target_shape: tuple, loss: str) -> tuple:
    """The shape model outputs take to be compared with targets: a (N, 1) output against a (N,)
    target is compared as (N,), never broadcast to (N, N); crossentropy's logits (N, K) stay as
    they are against their integer labels (N,). Any other mismatch is a ValueError.
    Shapes, not arrays, so that the torch backend applies the same rule to its tensors."""
    out_shape, target_shape = tuple(out_shape), tuple(target_shape)
    if out_shape == target_shape or loss == "crossentropy":
        return out_shape
    if out_shape[1:] == (1,) and target_shape == out_shape[:1]:
        return target_shape
    raise ValueError(
        f"outputs of shape {array_shape(out_shape)} do not match targets of shape "
        f"{array_shape(target_shape)}"
    )


def sigmoid_values(x):
    # Stable for any x: exp only ever sees -|x|, and the negative half uses e/(1+e) so tiny
    # values keep their relative precision (0.5+0.5*tanh(x/2) would round them away).
    e = np.exp(-np.abs(x))
    r = 1 / (1 + e)
    return np.where(x >= 0, r, e * r)


def softmax_values(x):
    """Softmax over the last axis, shifted by the maximum so exp never overflows."""
    z = x - x.max(axis=-1, keepdims=True)
    y = np.exp(z, out=z)
    y /= y.sum(axis=-1, keepdims=True)
    return y


# Each loss maps (pred, y, scale, **params) -> (per-element values, gradient): the gradient is
# d(value)/d(pred) of each element times `scale`, which loss_and_grad picks so that the gradient
# is that of the batch loss (a number 1/size, or each example's weight over N, broadcast).


def mse(pred, y, scale):
    d = pred - y
    return d * d, d * (2 * scale)


def mae(pred, y, scale):
    d = pred - y
    return np.abs(d), np.sign(d) * scale


def huber(pred, y, scale, delta=1.0):
    d = pred - y
    a = np.abs(d)
    quadratic = np.minimum(a, delta)
    # 0.5*d^2 inside the delta band, delta*(|d| - 0.5*delta) outside: the same as
    # 0.5*q^2 + delta*(|d| - q) with q = min(|d|, delta), which needs no branch.
    value = 0.5 * quadratic * quadratic + delta * (a - quadratic)
    return value, np.clip(d, -delta, delta) * scale


def bce(pred, y, scale):
    # On logits z: -y*log(sigmoid z) - (1-y)*log(1 - sigmoid z)
    #            = max(z, 0) - z*y + log1p(exp(-|z|)), finite for any z.
    z = pred
    e = np.exp(-np.abs(z))
    value = np.maximum(z, 0) - z * y + np.log1p(e)
    sig = np.where(z >= 0, 1 / (1 + e), e / (1 + e))
    return value, (sig - y) * scale


def crossentropy(pred, y, scale):
    # Integer labels y (N,) against logits (N, K), through a stable log-softmax; one value
    # per example.
    n = pred.shape[0]
    labels = np.asarray(y).astype(np.intp, copy=False).reshape(n, 1)
    shifted = pred - pred.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    total = exp.sum(axis=-1, keepdims=True)
    log_p = shifted - np.log(total)
    value = -np.take_along_axis(log_p, labels, axis=-1)[:, 0]
    grad = exp / total
    np.put_along_axis(grad, labels, np.take_along_axis(grad, labels, axis=-1) - 1, axis=-1)
    grad *= scale
    return value, grad


LOSSES = {"mse": mse, "mae": mae, "huber": huber, "bce": bce, "crossentropy": crossentropy}


def loss_and_grad(
    loss: dict, pred: np.ndarray, y: np.ndarray, w: np.ndarray | None = None
) -> tuple[float, np.ndarray]:
    """(batch loss as a float, d loss / d pred with pred's shape and dtype).

    Without weights the batch loss is the mean over every element. With `w`, one weight per
    example (N,), it is Keras's weighted loss: sum_i w_i * l_i / N, where l_i is example i's
    loss (the mean over its outputs), so divided by the batch size, not by the sum of weights.
    """
    name, params = loss["name"], {k: v for k, v in loss.items() if k != "name"}
    y = np.asarray(y)
    if name != "crossentropy":
        y = y.astype(pred.dtype, copy=False)
    aligned = pred.reshape(aligned_shape(pred.shape, y.shape, name))
    n = aligned.shape[0]
    if w is None:
        size = n if name == "crossentropy" else aligned.size
        values, grad = LOSSES[name](aligned, y, 1 / size, **params)
        return float(np.mean(values)), grad.reshape(pred.shape)
    w = np.asarray(w, dtype=pred.dtype).reshape(n)
    per_example = max(aligned.size // n, 1) if name != "crossentropy" else 1
    scale = (w / (n * per_example)).reshape((n,) + (1,) * (aligned.ndim - 1))
    values, grad = LOSSES[name](aligned, y, scale, **params)
    losses = values.reshape(n, -1).mean(axis=1)
    return float(np.dot(w, losses) / n), grad.reshape(pred.shape)


def loss_value(loss: dict, pred: np.ndarray, y: np.ndarray) -> float:
    """The mean loss only, e.g. for validation."""
    return loss_and_grad(loss, pred, y)[0]
