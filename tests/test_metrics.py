"""Metrics: values against hand computations and reference formulas (sklearn's, in numpy),
what each metric compares per loss, the `metrics` setting, and the epoch's whole-set values."""

from __future__ import annotations

import numpy as np
import pytest

import stackspec
from stackspec.backends.numpy.activations import sigmoid_values, softmax_values
from stackspec.compiler.pipeline import compile_source
from stackspec.compiler.settings import METRICS as FITS
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


# --- rmse, r2, precision, recall, f1, auc, top_k_accuracy: hand values and references ----------


def test_rmse_and_r2_by_hand():
    out = np.array([[1.0], [2.5], [4.0]], dtype=np.float32)
    y = np.array([1.0, 2.0, 5.0], dtype=np.float32)
    assert metrics.rmse(out, y, "mse") == pytest.approx(np.sqrt(1.25 / 3))
    # mean 8/3: SS_tot = (25 + 4 + 49) / 9, SS_res = 0 + 0.25 + 1
    assert metrics.r2(out, y, "mae") == pytest.approx(1 - 1.25 / (78 / 9))


def test_r2_averages_outputs_and_scores_constant_columns_as_sklearn():
    y = np.array([[1.0, 3.0], [2.0, 3.0], [3.0, 3.0]], dtype=np.float32)
    out = np.array([[1.0, 3.0], [2.0, 3.0], [4.0, 3.0]], dtype=np.float32)
    # column 0: 1 - 1/2; column 1 is constant and predicted exactly: 1.0
    assert metrics.r2(out, y, "mse") == pytest.approx((0.5 + 1.0) / 2)
    out[0, 1] = 2.0  # a constant column predicted wrong: 0.0 (sklearn's force_finite)
    assert metrics.r2(out, y, "mse") == pytest.approx((0.5 + 0.0) / 2)


def test_bce_precision_recall_f1_of_class_1_by_hand():
    logits = np.array([[2.0], [-1.0], [0.5], [-3.0], [1.0], [3.0]], dtype=np.float32)
    y = np.array([1, 0, 0, 1, 1, 0], dtype=np.float32)  # decisions 1 0 1 0 1 1: tp 2 fp 2 fn 1
    assert metrics.precision(logits, y, "bce") == pytest.approx(2 / 4)
    assert metrics.recall(logits, y, "bce") == pytest.approx(2 / 3)
    assert metrics.f1(logits, y, "bce") == pytest.approx(2 * 2 / (2 * 2 + 2 + 1))
    none = np.full((3, 1), -1.0, np.float32)  # nothing predicted positive: 0/0 counts 0
    assert metrics.precision(none, np.array([1, 0, 1], np.float32), "bce") == 0.0


def test_crossentropy_macro_over_classes_seen_with_zero_division_0():
    # classes 0..3; class 3 never occurs (left out); class 2 is predicted but never true
    logits = np.eye(4, dtype=np.float32)[[0, 0, 1, 2, 1, 1]]
    y = np.array([0, 1, 1, 1, 0, 1])
    # class 0: tp 1 fp 1 fn 1; class 1: tp 2 fp 1 fn 2; class 2: tp 0 fp 1 fn 0
    assert metrics.precision(logits, y, "crossentropy") == pytest.approx((1 / 2 + 2 / 3 + 0) / 3)
    assert metrics.recall(logits, y, "crossentropy") == pytest.approx((1 / 2 + 2 / 4 + 0) / 3)
    f1 = (2 / 4 + 4 / 7 + 0) / 3
    assert metrics.f1(logits, y, "crossentropy") == pytest.approx(f1)
    assert metrics.confusion(logits, y, "crossentropy").tolist() == [
        [1, 1, 0, 0],
        [1, 2, 1, 0],
        [0, 0, 0, 0],
        [0, 0, 0, 0],
    ]


def reference_prf(pred, true):
    """sklearn's precision_recall_fscore_support(average="macro", zero_division=0), in numpy."""
    labels = np.union1d(pred, true)
    p, r, f = [], [], []
    for c in labels:
        tp = np.sum((pred == c) & (true == c))
        fp = np.sum((pred == c) & (true != c))
        fn = np.sum((pred != c) & (true == c))
        p.append(tp / (tp + fp) if tp + fp else 0.0)
        r.append(tp / (tp + fn) if tp + fn else 0.0)
        f.append(2 * p[-1] * r[-1] / (p[-1] + r[-1]) if p[-1] + r[-1] else 0.0)
    return np.mean(p), np.mean(r), np.mean(f)


def reference_auc(scores, positive):
    """The fraction of (positive, negative) pairs ordered right, a tie counting half."""
    s1, s0 = scores[positive][:, None], scores[~positive][None, :]
    return np.mean((s1 > s0) + 0.5 * (s1 == s0))


@pytest.mark.parametrize("seed", range(5))
def test_against_reference_formulas(seed):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(60, 5)).astype(np.float32)
    y = rng.integers(0, 4, 60)  # class 4 is never true
    pred = logits.argmax(1)
    p, r, f = reference_prf(pred, y)
    assert metrics.precision(logits, y, "crossentropy") == pytest.approx(p)
    assert metrics.recall(logits, y, "crossentropy") == pytest.approx(r)
    assert metrics.f1(logits, y, "crossentropy") == pytest.approx(f)
    z = np.round(rng.normal(size=(80, 1)), 1).astype(np.float32)  # rounded: many ties
    t = (rng.random(80) < 0.4).astype(np.float32)
    assert metrics.auc(z, t, "bce") == pytest.approx(reference_auc(z[:, 0], t > 0.5))
    # f1 of class 1 alone: sklearn's binary average
    d = (z[:, 0] > 0).astype(int)
    tp, fp, fn = np.sum(d & (t > 0.5)), np.sum(d & (t < 0.5)), np.sum(~d.astype(bool) & (t > 0.5))
    assert metrics.f1(z, t, "bce") == pytest.approx(2 * tp / (2 * tp + fp + fn))
    yr = rng.normal(size=(40, 3)).astype(np.float32)
    o = (yr + rng.normal(size=(40, 3))).astype(np.float32)
    r2 = np.mean(1 - ((yr - o) ** 2).sum(0) / ((yr - yr.mean(0)) ** 2).sum(0))
    assert metrics.r2(o, yr, "mse") == pytest.approx(r2, rel=1e-6)
    assert metrics.rmse(o, yr, "mse") == pytest.approx(np.sqrt(np.mean((o - yr) ** 2)), rel=1e-6)


def test_auc_by_hand_with_ties_and_undefined_for_one_class():
    z = np.array([[0.1], [0.4], [0.35], [0.8]], dtype=np.float32)
    assert metrics.auc(z, np.array([0, 0, 1, 1], np.float32), "bce") == pytest.approx(0.75)
    tied = np.zeros((4, 1), np.float32)
    assert metrics.auc(tied, np.array([0, 1, 0, 1], np.float32), "bce") == 0.5
    ones = np.ones(3, np.float32)
    assert np.isnan(metrics.auc(z[:3], ones, "bce"))
    assert metrics.undefined("auc", ones, "bce") == "auc is undefined: every target is class 1"
    assert metrics.undefined("auc", np.array([0, 1.0]), "bce") is None


def test_top_k_accuracy_by_hand():
    logits = np.array([[0.1, 0.5, 0.4, 0.0], [0.9, 0.05, 0.03, 0.02], [0.2, 0.2, 0.2, 0.4]])
    y = np.array([2, 3, 0])  # label ranks: 2nd; 4th; tied 2nd-4th (inside, as in_top_k)
    assert metrics.top_k_accuracy(logits, y, "crossentropy", 1) == 0.0
    assert metrics.top_k_accuracy(logits, y, "crossentropy", 2) == pytest.approx(2 / 3)
    assert metrics.top_k_accuracy(logits, y, "crossentropy", 4) == 1.0
    assert metrics.top_k_accuracy(logits, y, "crossentropy", 9) == 1.0  # k >= classes
    out = metrics.compute(["top_k_accuracy", "accuracy"], logits, y, "crossentropy", top_k=2)
    assert out == {"top_k_accuracy": pytest.approx(2 / 3), "accuracy": 0.0}


def test_bce_confusion_pools_the_outputs_of_a_multi_label_model():
    z = np.array([[1.0, -1.0], [2.0, 3.0]], dtype=np.float32)
    y = np.array([[1.0, 1.0], [0.0, 1.0]], dtype=np.float32)
    assert metrics.confusion(z, y, "bce").tolist() == [[0, 1], [1, 2]]
    assert metrics.precision(z, y, "bce") == pytest.approx(2 / 3)


def test_every_metric_has_its_losses():
    assert set(metrics.METRICS) == set(FITS)


# --- the setting: k, the IR, and metrics that do not fit the loss ------------------------------

HEAD = "input 3\ndense 4\ntrain {{\n  loss {loss}\n  metrics {metrics}\n}}\n"


def test_top_k_in_the_ir():
    train = stackspec.parse(HEAD.format(loss="crossentropy", metrics="top_k_accuracy k=3")).ir.train
    assert train["metrics"] == ["top_k_accuracy"] and train["top_k"] == 3
    train = stackspec.parse(HEAD.format(loss="crossentropy", metrics="f1 top_k_accuracy")).ir.train
    assert train["metrics"] == ["f1", "top_k_accuracy"] and train["top_k"] == 5
    assert stackspec.parse(HEAD.format(loss="mse", metrics="r2")).ir.train["top_k"] is None


@pytest.mark.parametrize(
    ("loss", "line", "message", "column"),
    [
        ("mse", "mae auc", "metrics: auc needs loss bce, not mse", 15),
        ("crossentropy", "rmse", "rmse needs loss mse, mae or huber, not crossentropy", 11),
        ("huber", "f1", "metrics: f1 needs loss bce or crossentropy, not huber", 11),
        ("bce", "top_k_accuracy", "metrics: top_k_accuracy needs loss crossentropy, not bce", 11),
        ("crossentropy", "top_k_accuracy k=0", "metrics top_k_accuracy: k must be >= 1", 28),
        ("crossentropy", "f1 k=2", "metrics: unknown keyword 'k'", 14),
    ],
)
def test_setting_errors(loss, line, message, column):
    d = compile_source(HEAD.format(loss=loss, metrics=line), "s.stack").diags.sorted()
    assert [(x.span.line, x.span.column) for x in d] == [(5, column)]
    assert message in d[0].message, d[0].message


def test_fit_metrics_override_is_checked_like_the_spec():
    spec = stackspec.parse(HEAD.format(loss="crossentropy", metrics="accuracy"))
    m = spec.compile("numpy")
    X = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
    y = np.arange(20) % 4
    with pytest.raises(ValueError, match="auc needs loss bce, not crossentropy"):
        m.fit(X, y, metrics=["auc"], verbose=0)
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        m.fit(X, y, metrics=[{"name": "top_k_accuracy", "k": 0}], verbose=0)
    with pytest.raises(ValueError, match="unknown metric 'f2'"):
        m.fit(X, y, metrics=["f2"], verbose=0)
    h = m.fit(X, y, epochs=1, metrics=[{"name": "top_k_accuracy", "k": 4}], verbose=0)
    assert h["top_k_accuracy"] == [1.0]  # k = the number of classes


def test_epoch_metrics_are_computed_over_all_the_steps_outputs():
    spec = stackspec.parse(
        "input 3\ndense 1\ntrain {\n loss mse\n optimizer sgd lr=1e-30\n batch 3\n epochs 1\n"
        " metrics mae rmse r2\n}\n"
    )
    m = spec.compile("numpy")
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(10, 3)).astype(np.float32), rng.normal(size=10).astype(np.float32)
    h = m.fit(X, y, verbose=0)  # lr ~0: every step's outputs are the final model's
    want = metrics.compute(["mae", "rmse", "r2"], m._predict_batch(X), y, "mse")
    for name, value in want.items():
        assert h[name][0] == pytest.approx(value, rel=1e-6), name
