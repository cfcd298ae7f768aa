"""NumPy losses: values against direct formulas, gradient checks, stability on huge logits."""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_numpy_layers import assert_grad_close, numeric_grad

from stackspec.numerics import LOSSES, loss_and_grad, loss_value

rng = np.random.default_rng(0)
PRED = rng.standard_normal((6, 1)) * 2
TARGET = rng.standard_normal(6)
LOGITS = rng.standard_normal((6, 4)) * 3
LABELS = np.array([0, 3, 1, 1, 2, 0])
BINARY = (rng.random((6, 2)) > 0.5).astype(np.float64)


def _reference(name, pred, y, delta=1.0):
    if name == "crossentropy":
        return np.mean(
            [
                math.log(sum(math.exp(v) for v in row)) - row[k]
                for row, k in zip(pred, y, strict=True)
            ]
        )
    p, t = pred.ravel(), y.ravel()
    if name == "mse":
        return np.mean((p - t) ** 2)
    if name == "mae":
        return np.mean(np.abs(p - t))
    if name == "huber":
        d = np.abs(p - t)
        return np.mean(np.where(d <= delta, 0.5 * d * d, delta * (d - 0.5 * delta)))
    # bce with probabilities computed naively (fine for moderate logits)
    s = 1 / (1 + np.exp(-p))
    return np.mean(-(t * np.log(s) + (1 - t) * np.log(1 - s)))


CASES = [
    ({"name": "mse"}, PRED, TARGET),
    ({"name": "mae"}, PRED, TARGET),
    ({"name": "huber", "delta": 1.0}, PRED, TARGET),
    ({"name": "huber", "delta": 0.3}, PRED, TARGET),
    ({"name": "bce"}, LOGITS[:, :2], BINARY),
    ({"name": "bce"}, PRED, (TARGET > 0).astype(np.float64)),
    ({"name": "crossentropy"}, LOGITS, LABELS),
    ({"name": "mse"}, LOGITS, LOGITS[::-1].copy()),
]


def test_every_loss_has_cases():
    assert {case[0]["name"] for case in CASES} == set(LOSSES)


@pytest.mark.parametrize("loss,pred,y", CASES)
def test_value_matches_the_formula(loss, pred, y):
    want = _reference(loss["name"], pred, y, loss.get("delta", 1.0))
    assert loss_value(loss, pred, y) == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("loss,pred,y", CASES)
def test_gradient(loss, pred, y):
    pred = pred.copy()
    value, grad = loss_and_grad(loss, pred, y)
    assert grad.shape == pred.shape
    assert_grad_close(grad, numeric_grad(lambda: loss_value(loss, pred, y), pred), loss["name"])


def test_column_output_is_squeezed_not_broadcast():
    pred = np.array([[1.0], [2.0], [3.0]])
    y = np.array([1.0, 2.0, 5.0])
    assert loss_value({"name": "mse"}, pred, y) == pytest.approx(4 / 3)
    with pytest.raises(ValueError, match="do not match"):
        loss_value({"name": "mse"}, pred, np.zeros(4))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_preserved(dtype):
    for loss, pred, y in CASES:
        value, grad = loss_and_grad(loss, pred.astype(dtype), y)
        assert isinstance(value, float) and grad.dtype == dtype


def test_bce_and_crossentropy_are_stable_for_huge_logits():
    z = np.array([[1e4], [-1e4], [80.0], [-80.0]], dtype=np.float32)
    y = np.array([0.0, 1.0, 1.0, 0.0], dtype=np.float32)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        value, grad = loss_and_grad({"name": "bce"}, z, y)
    # Two confidently wrong (loss 1e4 each), two confidently right (loss ~exp(-80)).
    assert value == pytest.approx(5000.0, rel=1e-6)
    np.testing.assert_allclose(grad.ravel(), [0.25, -0.25, 0, 0], atol=1e-7)
    logits = np.array([[1e4, 0.0, -1e4], [0.0, 1e4, 0.0]], dtype=np.float32)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        value, grad = loss_and_grad({"name": "crossentropy"}, logits, np.array([2, 1]))
    assert value == pytest.approx(1e4, rel=1e-6)
    np.testing.assert_allclose(grad, [[0.5, 0, -0.5], [0, 0, 0]], atol=1e-7)
