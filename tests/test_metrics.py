"""Metrics: values against direct formulas, and what each metric compares per loss."""

from __future__ import annotations

import numpy as np
import pytest

from stackspec.backends.numpy.activations import sigmoid_values, softmax_values
from stackspec.training import metrics


def test_regression_metrics_match_formulas_and_squeeze():
    out = np.array([[1.0], [2.5], [4.0]], dtype=np.float32)  # (N, 1) output
    y = np.array([1.0, 2.0, 5.0], dtype=np.float32)  # (N,) targets: squeezed, not broadcast
    assert metrics.mae(out, y, "mae") == pytest.approx((0 + 0.5 + 1) / 3)
    assert metrics.mse(out, y, "mse") == pytest.approx((0 + 0.25 + 1) / 3)


def test_regression_accuracy_rounds_the_prediction():
    out = np.array([[4.6], [5.4], [5.5], [6.5], [3.0]], dtype=np.float32)
    y = np.array([5, 5, 6, 6, 4], dtype=np.float32)
    # rint: 5, 5, 6 (half to even), 6 (half to even), 3
    assert metrics.accuracy(out, y, "mae") == pytest.approx(4 / 5)


def test_bce_accuracy_thresholds_the_logit_and_errors_use_probabilities():
    logits = np.array([[2.0], [-1.0], [0.5], [-3.0]], dtype=np.float32)
    y = np.array([1, 0, 0, 1], dtype=np.float32)
    assert metrics.accuracy(logits, y, "bce") == 0.5
    p = 1 / (1 + np.exp(-logits[:, 0].astype(np.float64)))
    assert metrics.mae(logits, y, "bce") == pytest.approx(np.mean(np.abs(p - y)), rel=1e-6)
    assert metrics.mse(logits, y, "bce") == pytest.approx(np.mean((p - y) ** 2), rel=1e-6)


def test_crossentropy_accuracy_is_argmax_and_mse_is_brier():
    logits = np.array([[3.0, 1.0, 0.0], [0.0, 0.0, 5.0], [1.0, 2.0, 0.0]], dtype=np.float32)
    y = np.array([0, 1, 1], dtype=np.int64)
    assert metrics.accuracy(logits, y, "crossentropy") == pytest.approx(2 / 3)
    z = logits.astype(np.float64)
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    onehot = np.eye(3)[y]
    assert metrics.mse(logits, y, "crossentropy") == pytest.approx(np.mean((p - onehot) ** 2))
    assert metrics.mae(logits, y, "crossentropy") == pytest.approx(np.mean(np.abs(p - onehot)))


def test_sigmoid_and_softmax_are_stable_for_huge_logits():
    z = np.array([[-1e4], [0.0], [1e4]], dtype=np.float32)
    s = sigmoid_values(z)
    assert np.isfinite(s).all() and s.dtype == np.float32
    assert s[:, 0].tolist() == [0.0, 0.5, 1.0]
    p = softmax_values(np.array([[1e4, 0.0, -1e4]], dtype=np.float32))
    assert np.isfinite(p).all() and p[0, 0] == 1.0


def test_compute_returns_every_named_metric():
    out = np.zeros((4, 1), dtype=np.float32)
    y = np.ones(4, dtype=np.float32)
    assert metrics.compute(["mae", "mse", "accuracy"], out, y, "mse") == {
        "mae": 1.0,
        "mse": 1.0,
        "accuracy": 0.0,
    }
