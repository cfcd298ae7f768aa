"""`normalize`: the adapt step (training split only, float64, every fit), the stored statistics
in evaluate/predict/the weight file, the first-layer rule, and the lesson's exercise (SGD on raw,
unscaled features). Shapes, gradients, parity and emitted source come from the registry's
examples in the generic tests."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import HAS_TORCH

import stackspec
from stackspec.cli import main
from stackspec.training.adapt import moments

BACKENDS = [
    "numpy",
    pytest.param("torch", marks=pytest.mark.skipif(not HAS_TORCH, reason="no torch")),
]

SPEC = """input {input}
normalize
{body}
train {{
  loss mse
  optimizer sgd lr=0.001
  batch 16
  epochs 1
}}
"""


def compile_(text: str, backend: str):
    spec = stackspec.parse(text)
    return spec.compile(backend, device="cpu") if backend == "torch" else spec.compile(backend)


def features(n=64, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    scales = np.array([1e-3, 1.0, 50.0, 1e4], np.float32)
    return (rng.standard_normal((n, 4)) * scales + 2 * scales).astype(np.float32)


def dense_model(backend: str):
    return compile_(SPEC.format(input=4, body="dense 1"), backend)


def stats(model) -> tuple[np.ndarray, np.ndarray]:
    w = model.get_weights()
    return w["0.mean"], w["0.var"]


def test_state_starts_as_the_identity_and_is_not_trainable():
    ir = stackspec.parse(SPEC.format(input="3x4x4", body="flatten\ndense 1")).ir
    node = ir.nodes[0]
    assert node.weights == {}
    assert {k: (w.shape, w.init) for k, w in node.state.items()} == {
        "mean": ((3,), "zeros"),
        "var": ((3,), "ones"),
    }
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 4)).astype(np.float32)
    np.testing.assert_array_equal(
        stackspec.parse(SPEC.format(input="3x4x4", body="")).compile("numpy").predict(x), x
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_fit_adapts_to_the_training_split_only(backend):
    X, y = features(), np.zeros(64, np.float32)
    Xv = features(32, seed=1) * 100  # validation data on another scale: never seen
    model = dense_model(backend)
    model.fit(X, y, validation_data=(Xv, np.zeros(32, np.float32)), verbose=0)
    mean, var = stats(model)
    np.testing.assert_allclose(mean, X.astype(np.float64).mean(0), rtol=1e-6)
    np.testing.assert_allclose(var, X.astype(np.float64).var(0), rtol=1e-6)
    # validation_split: the statistics of the kept rows alone
    model.fit(X, y, validation_split=0.5, seed=3, verbose=0)
    mean, _ = stats(model)
    assert not np.allclose(mean, X.mean(0), rtol=1e-6)


def test_adapted_statistics_agree_between_backends():
    X, y = features(80, seed=2), np.zeros(80, np.float32)
    (m_np, v_np), (m_t, v_t) = (stats(fit(dense_model(b), X, y)) for b in ("numpy", "torch"))
    np.testing.assert_array_equal(m_np, m_t)
    np.testing.assert_array_equal(v_np, v_t)


def fit(model, X, y):
    model.fit(X, y, verbose=0)
    return model


def test_every_fit_adapts_again():
    model = dense_model("numpy")
    y = np.zeros(64, np.float32)
    first = stats(fit(model, features(), y))[0].copy()
    second = stats(fit(model, features(seed=5) + 7, y))[0]
    assert not np.allclose(first, second)


def test_float64_accumulation_keeps_the_variance_of_a_large_offset_feature():
    rng = np.random.default_rng(0)
    # 1e6 + noise: float32 holds it to 1/16, so the stored values have a variance near 1 that a
    # float32 sum, or E[x^2] - E[x]^2, loses entirely.
    X = (1e6 + rng.standard_normal((50_000, 1))).astype(np.float32)
    exact = X.astype(np.float64)
    mean, var = moments(X)
    np.testing.assert_allclose(mean, exact.mean(0), rtol=1e-7)
    np.testing.assert_allclose(var, exact.var(0), rtol=1e-6)
    naive = np.mean(X * X, axis=0) - np.mean(X, axis=0) ** 2  # float32, one pass
    assert abs(naive[0] - exact.var()) > 0.5


def test_per_channel_statistics_for_images():
    X = np.random.default_rng(1).normal(5, 3, (6, 2, 3, 3)).astype(np.float32)
    X[:, 1] *= 100
    mean, var = moments(X)
    exact = X.astype(np.float64).transpose(1, 0, 2, 3).reshape(2, -1)
    np.testing.assert_allclose(mean, exact.mean(1), rtol=1e-6)
    np.testing.assert_allclose(var, exact.var(1), rtol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_constant_feature_is_divided_by_the_floor_not_by_zero(backend):
    X = np.array([[3.0, 1.0, 0], [3.0, 2.0, 0], [3.0, 3.0, 0]], np.float32)
    fitted = fit(compile_(SPEC.format(input=3, body="dense 1"), backend), X, X[:, 1])
    mean, var = stats(fitted)
    np.testing.assert_array_equal(var, np.float32([0, 2 / 3, 0]))
    alone = compile_(SPEC.format(input=3, body=""), backend)
    alone.set_weights({"0.mean": mean, "0.var": var})
    # §11's y = (x - mean) / max(sqrt(var), 1e-7), as Keras: the training rows give 0 ...
    np.testing.assert_array_equal(alone.predict(X)[:, [0, 2]], 0)
    # ... and a value the training split never had is scaled by 1e7, finite.
    y = alone.predict(np.array([[3.5, 2.0, -1e-6]], np.float32))
    np.testing.assert_allclose(y, [[5e6, 0.0, -10.0]], rtol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_saved_statistics_serve_evaluate_and_predict_in_either_backend(backend, tmp_path):
    X, y = features(), features()[:, 1]
    model = fit(dense_model(backend), X, y)
    path = tmp_path / "w.safetensors"
    model.save(path)
    Xt = features(16, seed=9)
    for other in ("numpy", "torch") if HAS_TORCH else ("numpy",):
        loaded = dense_model(other).load(path)
        np.testing.assert_array_equal(stats(loaded)[0], stats(model)[0])
        np.testing.assert_array_equal(stats(loaded)[1], stats(model)[1])
        np.testing.assert_allclose(loaded.predict(Xt), model.predict(Xt), rtol=1e-5, atol=1e-5)
        assert loaded.evaluate(Xt, Xt[:, 1])["loss"] == pytest.approx(
            model.evaluate(Xt, Xt[:, 1])["loss"], rel=1e-5
        )
    # predict uses the stored statistics: the first layer sees (x - mean) / std
    mean, var = stats(model)
    w = model.get_weights()
    expected = (Xt - mean) / np.sqrt(var) @ w["1.weight"].T + w["1.bias"]
    np.testing.assert_allclose(model.predict(Xt), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "text, where",
    [
        ("input 4\ndense 4\nnormalize\n", "3:1"),
        ("input 4\nnormalize\nresidual {\n  normalize\n}\n", "4:3"),
        ("input 4\nrepeat 2 {\n  normalize\n}\n", "3:3"),
        ("block pre() {\n  normalize\n}\ninput 4\ndense 4\npre\n", "2:3"),
    ],
)
def test_normalize_anywhere_but_first_is_e214(text, where):
    with pytest.raises(stackspec.SpecError) as e:
        stackspec.parse(text, "m.stack")
    (d,) = e.value.diagnostics
    assert d.code == "E214" and "only as the first layer" in d.message
    assert f"{d.span.line}:{d.span.column}" == where


# --- the lesson's exercise: SGD on raw, unscaled features -------------------------------------

EXERCISE = """input 8
{normalize}dense 512 relu
dense 512 relu
dense 512 relu
dense 1
train {{
  loss mse
  optimizer sgd
  batch 32
  epochs 6
}}
"""


def raw_regression_csv(path, n=600, seed=0) -> float:
    """Eight features on scales 1e-3 .. 1e4 (and offsets as large), a target that depends on
    each equally; returns the variance of the target (the loss of predicting its mean)."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, 8))
    scales = 10.0 ** np.arange(-3, 5)
    X = z * scales + 3 * scales
    y = 3 + z @ np.linspace(-1, 1, 8) + 0.5 * z[:, 0] * z[:, 7] + 0.1 * rng.standard_normal(n)
    header = ",".join([*(f"x{i}" for i in range(8)), "y"])
    np.savetxt(path, np.column_stack([X, y]), delimiter=",", header=header, comments="")
    return float(y.var())


@pytest.mark.parametrize("backend", BACKENDS)
def test_exercise_sgd_on_raw_features_trains_with_normalize_only(backend, tmp_path):
    data = tmp_path / "raw.csv"
    variance = raw_regression_csv(data)
    losses = {}
    for name, line in (("with", "normalize\n"), ("without", "")):
        spec = tmp_path / f"{name}.stack"
        spec.write_text(EXERCISE.format(normalize=line))
        out = tmp_path / name
        common = ["--data", data, "--target", "y"]
        run = CliRunner().invoke(
            main,
            [str(a) for a in ("train", spec, *common, "--out", out, "--backend", backend)]
            + (["--device", "cpu"] if backend == "torch" else []),
        )
        if run.exit_code != 0:
            assert name == "without" and "training failed" in run.stderr, run.output
            losses[name] = float("nan")
            continue
        weights = out / "weights.safetensors"
        evaluated = CliRunner().invoke(
            main, [str(a) for a in ("evaluate", spec, "--weights", weights, *common)]
        )
        assert evaluated.exit_code == 0, evaluated.output
        losses[name] = float(evaluated.stdout.split()[1])
    # Far below predicting the mean with normalize; diverged (nan) or stalled without it.
    assert losses["with"] < 0.2 * variance, losses
    assert not losses["without"] < 0.5 * variance, losses
