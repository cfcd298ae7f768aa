"""Class and sample weights (LANGUAGE.md §12): Keras's weighted loss, both backends, the spec,
the CLI's weight column and the Python API."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import needs_torch
from test_numpy_layers import assert_grad_close, numeric_grad

import stackspec
from stackspec.cli import main
from stackspec.compiler.pipeline import compile_source
from stackspec.numerics import loss_and_grad, loss_value
from stackspec.training.evaluation import evaluate_arrays
from stackspec.training.weighting import balanced, example_weights

rng = np.random.default_rng(3)
W6 = np.array([0.5, 2.0, 0.0, 1.0, 3.0, 0.25])
CASES = [
    ({"name": "mse"}, rng.standard_normal((6, 1)), rng.standard_normal(6)),
    ({"name": "mse"}, rng.standard_normal((6, 3)), rng.standard_normal((6, 3))),
    ({"name": "mae"}, rng.standard_normal((6, 2)), rng.standard_normal((6, 2))),
    ({"name": "huber", "delta": 0.5}, rng.standard_normal((6, 2)) * 2, rng.standard_normal((6, 2))),
    ({"name": "bce"}, rng.standard_normal((6, 1)) * 3, (rng.random(6) > 0.5).astype(float)),
    ({"name": "bce"}, rng.standard_normal((6, 2)) * 3, rng.random((6, 2))),
    ({"name": "crossentropy"}, rng.standard_normal((6, 4)) * 3, np.array([0, 3, 1, 1, 2, 0])),
]


def _by_hand(loss, pred, y, w):
    """sum_i w_i * l_i / N, each l_i the unweighted loss of example i alone."""
    per = [loss_value(loss, pred[i : i + 1], y[i : i + 1]) for i in range(len(pred))]
    return float(np.dot(w, per) / len(pred))


@pytest.mark.parametrize("loss,pred,y", CASES, ids=lambda c: getattr(c, "shape", c))
def test_weighted_value_and_gradient(loss, pred, y):
    pred = pred.copy()
    value, grad = loss_and_grad(loss, pred, y, W6)
    assert value == pytest.approx(_by_hand(loss, pred, y, W6), rel=1e-12)
    numeric = numeric_grad(lambda: loss_and_grad(loss, pred, y, W6)[0], pred)
    assert grad.shape == pred.shape
    assert_grad_close(grad, numeric, loss["name"])
    assert not grad[2].any()  # a weight of 0 leaves its example out


@pytest.mark.parametrize("loss,pred,y", CASES, ids=lambda c: getattr(c, "shape", c))
def test_unit_weights_are_the_unweighted_loss(loss, pred, y):
    plain, g = loss_and_grad(loss, pred, y)
    value, gw = loss_and_grad(loss, pred, y, np.ones(len(pred)))
    assert value == pytest.approx(plain, rel=1e-12)
    np.testing.assert_allclose(gw, g, rtol=1e-12, atol=1e-15)


def test_divided_by_the_batch_size_not_the_weights():
    pred, y = np.array([[1.0], [3.0]]), np.zeros(2)
    assert loss_and_grad({"name": "mse"}, pred, y, np.array([2.0, 0.0]))[0] == 1.0  # 2*1/2


def test_balanced_by_hand():
    notes = []
    y = np.array([0, 0, 0, 0, 0, 0, 1, 1, 2])
    np.testing.assert_allclose(balanced(y, 4, notes.append), [9 / 18, 9 / 6, 9 / 3, 0])
    assert notes == ["warning: class_weight balanced: no training example of class 3"]
    bce = stackspec.parse("input 2\ndense 1\ntrain {\n loss bce\n class_weight balanced\n}\n")
    w = example_weights(bce.ir, "balanced", np.array([0, 0, 0, 1.0]), None, notes.append)
    np.testing.assert_allclose(w, [2 / 3, 2 / 3, 2 / 3, 2])
    assert w.mean() == pytest.approx(1)  # the recipe keeps the mean weight at 1


CLASSES = """input 4
dense 8 relu
dense 3 softmax
train {
  loss crossentropy
  optimizer adam lr=0.01
  batch 8
  epochs 3
  class_weight CW
}
"""
REGRESSION = """input 4
dense 8 tanh
dense 2
train {
  loss huber
  optimizer sgd lr=0.05 momentum=0.9
  batch 8
  epochs 3
}
"""
BINARY = """input 4
dense 8 relu
dense 1 sigmoid
train {
  loss bce
  batch 8
  epochs 3
  class_weight [1.0, 4.0]
}
"""


def _data(n=37, outputs=None):
    r = np.random.default_rng(1)
    X = r.standard_normal((n, 4)).astype(np.float32)
    classes = np.r_[np.zeros(25), np.ones(9), np.full(n - 34, 2)].astype(np.int64)
    y = classes if outputs is None else r.standard_normal((n, outputs)).astype(np.float32)
    return X, y, r.uniform(0, 2, n)


def _fit(text, backend, y=None, **kw):
    X, y0, sw = _data()
    model = stackspec.parse(text).compile(backend)
    model.fit(X, y0 if y is None else y, verbose=0, **kw)
    return model.get_weights()


def _same(a, b, rtol=1e-5, atol=1e-6):
    for key in a:
        np.testing.assert_allclose(a[key], b[key], rtol=rtol, atol=atol, err_msg=key)


@needs_torch
@pytest.mark.parametrize("cw", ["balanced", "[1, 0.5, 6]"])
def test_backends_agree_with_class_weights(cw):
    text = CLASSES.replace("CW", cw)
    _, _, sw = _data()
    _same(_fit(text, "numpy"), _fit(text, "torch"))
    _same(_fit(text, "numpy", sample_weight=sw), _fit(text, "torch", sample_weight=sw))


@needs_torch
def test_backends_agree_with_sample_weights():
    X, y, sw = _data(outputs=2)
    _same(
        _fit(REGRESSION, "numpy", y, sample_weight=sw),
        _fit(REGRESSION, "torch", y, sample_weight=sw),
    )
    yb = (y[:, 0] > 0).astype(np.float32)
    _same(_fit(BINARY, "numpy", yb, sample_weight=sw), _fit(BINARY, "torch", yb, sample_weight=sw))


def test_weights_change_training_and_multiply():
    X, y, sw = _data()
    text = CLASSES.replace("CW", "[1, 3, 0.5]")
    plain = _fit(CLASSES.replace("  class_weight CW\n", ""), "numpy")
    weighted = _fit(text, "numpy")
    assert not np.allclose(plain["1.weight"], weighted["1.weight"])
    as_dict = _fit(text, "numpy", class_weight={1: 3, 2: 0.5})  # Keras's dict; class 0 is 1
    _same(weighted, as_dict, rtol=0, atol=0)
    both = _fit(text, "numpy", sample_weight=sw)
    product = np.array([1, 3, 0.5])[y] * sw.astype(np.float32)
    _same(both, _fit(text, "numpy", class_weight={}, sample_weight=product), rtol=1e-6)


def test_fused_softmax_trains_as_logits_weighted():
    ends = [
        CLASSES.replace("CW", "balanced"),
        CLASSES.replace("CW", "balanced").replace(" softmax", ""),
    ]
    _same(*(_fit(t, "numpy") for t in ends), rtol=0, atol=0)


def test_validation_loss_and_metrics_stay_unweighted():
    X, y, sw = _data()
    model = stackspec.parse(CLASSES.replace("CW", "[1, 5, 9]")).compile("numpy")
    h = model.fit(X, y, validation_data=(X, y), sample_weight=sw, metrics=["accuracy"], verbose=0)
    ev = evaluate_arrays(model, X, y, model.ir.train["loss"], ["accuracy"], 8)
    assert h["val_loss"][-1] == pytest.approx(ev["loss"], rel=1e-6)
    assert h["val_accuracy"][-1] == pytest.approx(ev["accuracy"])


def test_validation_split_keeps_the_training_rows_weights():
    X, y, sw = _data()
    text = CLASSES.replace("  class_weight CW\n", "")
    model = stackspec.parse(text).compile("numpy")
    model.fit(X, y, validation_split=0.3, sample_weight=sw, verbose=0)
    from stackspec.training.data import split

    keep, _ = split(len(X), 0.3, 0)
    other = stackspec.parse(text).compile("numpy")
    other.fit(X[keep], y[keep], sample_weight=sw[keep], verbose=0)
    _same(model.get_weights(), other.get_weights(), rtol=0, atol=0)


@pytest.mark.parametrize(
    "kw,message",
    [
        ({"sample_weight": np.ones(5)}, "shape"),
        ({"sample_weight": -np.ones(37)}, ">= 0"),
        ({"sample_weight": np.full(37, np.nan)}, "NaN"),
        ({"class_weight": [1, 2]}, "2 weights for 3 classes"),
        ({"class_weight": {7: 1.0}}, "not in"),
        ({"class_weight": [0, 0, 0]}, "every weight is 0"),
        ({"class_weight": "heavy"}, "balanced"),
    ],
)
def test_api_errors(kw, message):
    X, y, _ = _data()
    model = stackspec.parse(CLASSES.replace("  class_weight CW\n", "")).compile("numpy")
    with pytest.raises(ValueError, match=message):
        model.fit(X, y, verbose=0, **kw)


def test_api_class_weight_on_a_regression_is_an_error():
    X, y, _ = _data(outputs=2)
    with pytest.raises(ValueError, match="crossentropy or bce"):
        stackspec.parse(REGRESSION).compile("numpy").fit(X, y, class_weight="balanced", verbose=0)


@pytest.mark.parametrize(
    "head,body,code,message",
    [
        ("dense 3", "loss crossentropy\n class_weight [1, 2]", "E214", "2 weights"),
        ("dense 1", "loss bce\n class_weight [1, 2, 3]", "E214", "classes 0 and 1"),
        ("dense 1", "class_weight balanced", "E214", "loss mse has none"),
        ("dense 1", "loss huber\n class_weight [1, 1]", "E214", "loss huber"),
        ("dense 2", "loss bce\n class_weight balanced", "E214", "no classes|has none"),
        ("dense 2", "loss crossentropy\n class_weight [1, -2]", "E205", ">= 0"),
        ("dense 2", "loss crossentropy\n class_weight [0, 0.0]", "E205", "every weight is 0"),
        ("dense 2", "loss crossentropy\n class_weight [1, x]", "E204", "expected a number"),
        ("dense 2", "loss crossentropy\n class_weight heavy", "E204", "balanced or a list"),
        ("dense 2", "weight_column 3", "E204", "column name"),
    ],
)
def test_spec_errors(head, body, code, message):
    result = compile_source(f"input 2\n{head}\ntrain {{\n {body}\n}}\n")
    errors = [(d.code, d.message) for d in result.diags.sorted() if d.severity == "error"]
    assert len(errors) == 1 and errors[0][0] == code, errors
    assert __import__("re").search(message, errors[0][1]), errors


def test_spec_settings_in_the_ir():
    ir = stackspec.parse(BINARY.replace("  batch 8", '  weight_column "my w"')).ir
    assert ir.train["class_weight"] == [1.0, 4.0] and ir.train["weight_column"] == "my w"
    plain = stackspec.parse("input 2\ndense 1\n").ir.train
    assert plain["class_weight"] is None and plain["weight_column"] is None


# --- the weight column on the command line ---------------------------------------------------

SPEC = """input 2
dense 4 tanh
dense 1 sigmoid
train {
  loss bce
  optimizer sgd lr=0.1
  batch 4
  epochs 2
  class_weight balanced
  weight_column w
}
"""


def _csv(tmp_path, rows=None, name="d.csv"):
    r = np.random.default_rng(5)
    if rows is None:
        rows = [
            f"{r.normal():.3f},{r.uniform(0, 2):.2f},{r.normal():.3f},{int(r.uniform() < 0.25)}"
            for _ in range(20)
        ]
    path = tmp_path / name
    path.write_text("a,w,b,t\n" + "\n".join(rows) + "\n")
    return path


def _cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_cli_weight_column_trains_as_the_api(tmp_path):
    spec = tmp_path / "s.stack"
    spec.write_text(SPEC)
    data = _csv(tmp_path)
    result = _cli(
        "train",
        spec,
        "--data",
        data,
        "--target",
        "t",
        "--valid-split",
        "0",
        "--out",
        tmp_path / "run",
    )
    assert result.exit_code == 0, result.output
    table = np.loadtxt(data, delimiter=",", skiprows=1)
    model = stackspec.parse(SPEC).compile("numpy")
    model.fit(table[:, [0, 2]], table[:, 3], sample_weight=table[:, 1], verbose=0)
    saved = stackspec.parse(SPEC).compile("numpy").load(tmp_path / "run" / "weights.safetensors")
    _same(model.get_weights(), saved.get_weights(), rtol=0, atol=0)
    # evaluate and predict leave the weight column out of the features
    ev = _cli(
        "evaluate",
        spec,
        "--weights",
        tmp_path / "run" / "weights.safetensors",
        "--data",
        data,
        "--target",
        "t",
    )
    assert ev.exit_code == 0, ev.output
    pr = _cli(
        "predict",
        spec,
        "--weights",
        tmp_path / "run" / "weights.safetensors",
        "--data",
        data,
        "--target",
        "t",
    )
    assert pr.exit_code == 0, pr.output


def test_cli_weight_column_flag_and_a_data_section(tmp_path):
    spec = tmp_path / "s.stack"
    spec.write_text(SPEC.replace("  weight_column w\n", "") + "data {\n  target t\n}\n")
    data = _csv(tmp_path)
    args = ("train", spec, "--data", data, "--valid-split", "0", "--out")
    assert _cli(*args, tmp_path / "r1").exit_code == 1  # w would be a third feature
    result = _cli(*args, tmp_path / "r2", "--weight-column", "w")
    assert result.exit_code == 0, result.output
    table = np.loadtxt(data, delimiter=",", skiprows=1)
    model = stackspec.parse(SPEC).compile("numpy")
    model.fit(table[:, [0, 2]], table[:, 3], sample_weight=table[:, 1], verbose=0)
    saved = stackspec.parse(SPEC).compile("numpy").load(tmp_path / "r2" / "weights.safetensors")
    _same(model.get_weights(), saved.get_weights(), rtol=0, atol=0)


@pytest.mark.parametrize("section", [False, True])
@pytest.mark.parametrize(
    "cell,code,message",
    [
        ("-0.5", "E514", "weight -0.5 at row 3, column 2 ('w') is negative"),
        ("x", "E507", "not a number: 'x' at row 3, column 2 ('w')"),
        ("nan", "E508", "NaN is not allowed at row 3, column 2 ('w')"),
    ],
)
def test_cli_bad_weight_cells(tmp_path, section, cell, code, message):
    spec = tmp_path / "s.stack"
    spec.write_text(SPEC + ("data {\n  target t\n}\n" if section else ""))
    data = _csv(tmp_path, ["1,1,2,0", f"1,{cell},2,1", "0,1,1,0", "2,1,0,1"])
    result = _cli("train", spec, "--data", data, "--target", "t", "--out", tmp_path / "r")
    assert result.exit_code == 1
    assert f"error[{code}]: {message}" in result.output


def test_cli_missing_or_contradictory_weight_column(tmp_path):
    spec = tmp_path / "s.stack"
    spec.write_text(SPEC)
    data = _csv(tmp_path)
    base = ("train", spec, "--data", data, "--target", "t", "--out", tmp_path / "r")
    result = _cli(*base, "--weight-column", "ww")
    assert result.exit_code == 1 and "no weight column 'ww'" in result.output
    result = _cli(*base, "--weight-column", "t")
    assert result.exit_code == 1 and "both the weight column and the target" in result.output
    result = _cli(*base, "--drop", "w")
    assert result.exit_code == 1 and "both the weight column and in `drop`" in result.output


def test_read_data_gives_the_weights(tmp_path):
    data = _csv(tmp_path)
    ds = stackspec.parse(SPEC).read_data(data, target="t")
    table = np.loadtxt(data, delimiter=",", skiprows=1)
    np.testing.assert_array_equal(ds.weights, table[:, 1].astype(np.float32))
    assert ds.X.shape == (20, 2)
