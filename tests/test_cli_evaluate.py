"""`stackspec evaluate`: --json, the confusion matrix of a classifier, --out DIR; and the new
metrics in training on both backends."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import DATA, needs_torch

import stackspec
from stackspec.cli import main

REGRESSION = """input 11
dense 8 relu
dense 1
train {
  loss mae
  batch 128
  epochs 2
  metrics mae rmse r2
}
"""
CLASSES = """input 11
dense 8 relu
dense 10
train {
  loss crossentropy
  batch 128
  epochs 2
  metrics accuracy precision recall f1 top_k_accuracy k=3
}
"""
BINARY = """input 2
dense 4 tanh
dense 1
data {
  target verdict
  labels auto
}
train {
  loss bce
  optimizer sgd lr=0.5
  epochs 3
  metrics accuracy precision recall f1 auc
}
"""


def run(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def binary_csv(path, n=120, only=None):
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(2, n))
    good = a + 0.5 * b + rng.normal(scale=0.5, size=n) > 0
    rows = [
        f"{x:.4f},{z:.4f},{'good' if g else 'bad'}"
        for x, z, g in zip(a, b, good, strict=True)
        if only is None or g == (only == "good")
    ]
    path.write_text("a,b,verdict\n" + "\n".join(rows) + "\n")
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """{name: (spec path, weights path, data path)}, each trained once."""
    root = tmp_path_factory.mktemp("eval")
    out = {}
    for name, text, data, extra in [
        ("regression", REGRESSION, DATA, ("--target", "quality")),
        ("classes", CLASSES, DATA, ("--target", "quality")),
        ("binary", BINARY, binary_csv(root / "bin.csv"), ()),
    ]:
        spec = root / f"{name}.stack"
        spec.write_text(text)
        r = run("train", spec, "--data", data, "--out", root / name, *extra)
        assert r.exit_code == 0, r.output
        out[name] = (spec, root / name / "weights.safetensors", data, extra)
    return out


def evaluate(runs, name, *more, data=None):
    spec, weights, train_data, extra = runs[name]
    return run("evaluate", spec, "--weights", weights, "--data", data or train_data, *extra, *more)


def test_json_of_a_regression_model_has_loss_and_metrics(runs):
    r = evaluate(runs, "regression", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert list(doc) == ["loss", "mae", "rmse", "r2"]
    assert doc["loss"] == pytest.approx(doc["mae"], rel=1e-6)
    lines = evaluate(runs, "regression").stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["loss", "mae", "rmse", "r2"]


def test_a_classifier_prints_its_confusion_matrix(runs):
    r = evaluate(runs, "classes")
    assert r.exit_code == 0, r.output
    text = r.stdout
    assert "top_k_accuracy:" in text and "f1:" in text
    table = text.split("confusion matrix (rows: true class, columns: predicted class):\n")[1]
    rows = table.splitlines()
    assert rows[0].split() == ["true\\pred", *map(str, range(10))]
    counts = np.array([[int(v) for v in row.split()[1:]] for row in rows[1:]])
    assert counts.shape == (10, 10) and counts.sum() == 1599
    doc = json.loads(evaluate(runs, "classes", "--json").stdout)
    assert doc["confusion"] == counts.tolist() and "labels" not in doc
    assert np.trace(counts) / 1599 == pytest.approx(doc["accuracy"])


def test_labels_of_the_data_section_name_the_classes(runs):
    r = evaluate(runs, "binary")
    assert r.exit_code == 0, r.output
    assert "true\\pred   bad  good" in r.stdout
    doc = json.loads(evaluate(runs, "binary", "--json").stdout)
    assert doc["labels"] == ["bad", "good"] and np.sum(doc["confusion"]) == 120
    (tn, fp), (fn, tp) = doc["confusion"]
    assert doc["precision"] == pytest.approx(tp / (tp + fp))
    assert doc["recall"] == pytest.approx(tp / (tp + fn))
    assert 0.5 < doc["auc"] <= 1


def test_an_undefined_auc_is_null_with_a_note_not_an_overflow_warning(runs, tmp_path):
    bad_only = binary_csv(tmp_path / "bad.csv", only="bad")
    r = evaluate(runs, "binary", "--json", data=bad_only)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["auc"] is None
    assert "note: auc is undefined: every target is class 0" in r.stderr
    assert "overflow" not in r.stderr


def test_out_writes_evaluation_json_and_confusion_png(runs, tmp_path):
    out = tmp_path / "eval"
    r = evaluate(runs, "classes", "--json", "--out", out)
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.iterdir()) == ["confusion.png", "evaluation.json"]
    assert (out / "confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "evaluation.json").read_text()) == json.loads(r.stdout)
    assert "wrote" in r.stderr
    reg = tmp_path / "reg"
    assert evaluate(runs, "regression", "--out", reg).exit_code == 0
    assert [p.name for p in reg.iterdir()] == ["evaluation.json"]


def test_out_holding_an_input_is_refused_before_any_work(runs):
    spec, weights, *_ = runs["classes"]
    before = sorted(p.name for p in weights.parent.iterdir())
    r = evaluate(runs, "classes", "--out", weights.parent)
    assert r.exit_code == 1 and "holds the --weights file" in r.stderr and r.stdout == ""
    assert sorted(p.name for p in weights.parent.iterdir()) == before


# --- the new metrics in training: history columns, equal on both backends ------------------


@needs_torch
@pytest.mark.parametrize(
    ("loss", "head", "names"),
    [
        ("mse", "dense 2", "mae rmse r2"),
        ("crossentropy", "dense 4", "accuracy precision recall f1 top_k_accuracy k=2"),
        ("bce", "dense 1", "accuracy precision recall f1 auc"),
    ],
)
def test_training_metrics_are_equal_on_both_backends(loss, head, names):
    text = (
        f"input 3\ndense 8 tanh\n{head}\ntrain {{\n loss {loss}\n optimizer sgd lr=0.1\n"
        f" batch 8\n epochs 3\n metrics {names}\n}}\n"
    )
    spec = stackspec.parse(text)
    rng = np.random.default_rng(2)
    X = rng.normal(size=(50, 3)).astype(np.float32)
    if loss == "crossentropy":
        y = (X @ [1.0, -1.0, 0.5] > 0).astype(np.int64) + 2 * (X[:, 2] > 0)
    elif loss == "bce":
        y = (X[:, 0] + rng.normal(scale=0.5, size=50) > 0).astype(np.float32)
    else:
        y = np.stack([X.sum(1), X[:, 0] * X[:, 1]], 1).astype(np.float32)
    valid = (X[40:], y[40:])
    histories = [
        spec.compile(b).fit(X[:40], y[:40], validation_data=valid, verbose=0)
        for b in ("numpy", "torch")
    ]
    metric_names = [n for n in names.split() if "=" not in n]
    keys = ["loss", "val_loss"] + [k for n in metric_names for k in (n, f"val_{n}")] + ["lr"]
    assert list(histories[0]) == list(histories[1]) == keys
    for key in keys:
        assert histories[1][key] == pytest.approx(histories[0][key], rel=1e-4, abs=1e-6), key
