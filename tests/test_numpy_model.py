"""NumpyModel and whole stacks: gradient checks of composed models (loss included), the
flat-array wiring, training steps, evaluation mode and weight round trips."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SPECS, central_difference, deepest
from test_numpy_layers import assert_grad_close

import stackspec
from stackspec.backends.numpy import NumpyModel
from stackspec.backends.numpy.layers import Context, build
from stackspec.layers.init import initial_weights
from stackspec.numerics import loss_and_grad, loss_value


def _small(name: str, replacements: dict[str, str], overrides=None) -> stackspec.Spec:
    text = (SPECS / f"{name}.stack").read_text()
    for old, new in replacements.items():
        assert old in text, old
        text = text.replace(old, new)
    return stackspec.parse(text, overrides=overrides)


def red_wine(width: int = 16) -> stackspec.Spec:
    # The lesson's spec, its width made a constant so it can be overridden like `--set`.
    text = "let width = 1024\n" + (SPECS / "red_wine.stack").read_text()
    return stackspec.parse(
        text.replace("dense 1024", "dense width"), overrides={"width": str(width)}
    )


SPECS_SMALL = {
    "red_wine": lambda: red_wine(16),
    "wine_blocks": lambda: stackspec.load(SPECS / "wine_blocks.stack", overrides={"width": "12"}),
    "residual_mlp": lambda: _small("residual_mlp", {"128": "8"}),
    "tiny_resnet": lambda: _small(
        "tiny_resnet", {"3x16x16": "2x6x6", "conv2d 16": "conv2d 3", "conv2d 32": "conv2d 4"}
    ),
    "digits_cnn": lambda: _small("digits_cnn", {"conv2d 16": "conv2d 3", "conv2d 32": "conv2d 4"}),
    "wine_classifier": lambda: _small("wine_classifier", {"64": "8", "32": "6"}),
}


def _data(spec, n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, *spec.ir.input))
    out = spec.ir.output_shape
    loss = spec.ir.train["loss"]["name"]
    if loss == "crossentropy":
        y = rng.integers(0, out[0], n)
    elif loss == "bce":
        y = (rng.random((n, *out)) > 0.5).astype(np.float64)
    else:
        y = rng.standard_normal(n) if out == (1,) else rng.standard_normal((n, *out))
    return x, y


def _float64_model(spec, seed: int = 0):
    rng = np.random.default_rng(seed + 1)
    params = {}
    for key, w in initial_weights(spec.ir, seed).items():
        w = w.astype(np.float64)
        if key.endswith(("bias", "running_mean", ".mean")):
            w = w + rng.normal(0, 0.2, w.shape)
        params[key] = w
    ctx = Context(params)
    return ctx, build(spec.ir.nodes, ctx)


def _sampled_numeric_grad(f, arr, rng, count=12, eps=1e-6):
    """Central differences at up to `count` random entries: whole models have many weights."""
    flat = arr.reshape(-1)
    idx = rng.choice(flat.size, size=min(count, flat.size), replace=False)
    return idx, np.array([central_difference(f, flat, i, eps) for i in idx])


@pytest.mark.parametrize("name", list(SPECS_SMALL))
def test_whole_model_gradient_check(name):
    spec = SPECS_SMALL[name]()
    loss = spec.ir.train["loss"]
    ctx, forward = _float64_model(spec)
    x, y = _data(spec, 5)

    def run(x):
        ctx.rng = np.random.default_rng(42)  # the same dropout mask at every call
        return forward(x, True)

    def objective():
        return loss_value(loss, run(x)[0], y)

    pred, backprop = run(x)
    dx = backprop(loss_and_grad(loss, pred, y)[1])
    grads = {k: g.copy() for k, g in ctx.grads.items()}
    assert set(grads) == {f"{n.id}.{k}" for n in spec.ir.walk() for k in n.weights}
    rng = np.random.default_rng(0)
    for key, analytic in [("input", dx), *grads.items()]:
        arr = x if key == "input" else ctx.params[key]
        idx, numeric = _sampled_numeric_grad(objective, arr, rng)
        assert_grad_close(analytic.reshape(-1)[idx], numeric, f"{name} {key}")


@pytest.mark.parametrize("name", ["red_wine", "tiny_resnet"])
def test_numpy_model_gradients_equal_the_float64_composition(name):
    """NumpyModel's float32 flat-array views receive the same gradients as a float64 build."""
    spec = SPECS_SMALL[name]()
    model = NumpyModel(spec, seed=3)
    ctx, forward = _float64_model(spec)
    for key, value in ctx.params.items():
        value[...] = model.params[key]
    x, y = _data(spec, 6)
    loss = spec.ir.train["loss"]
    for run, rng_holder in ((model.forward, model._ctx), (forward, ctx)):
        rng_holder.rng = np.random.default_rng(9)
        inp = x.astype(np.float32) if run is model.forward else x
        pred, backprop = run(inp, True)
        backprop(loss_and_grad(loss, pred, y)[1])
    for key, g in ctx.grads.items():
        assert model.grads[key].dtype == np.float32
        np.testing.assert_allclose(model.grads[key], g, rtol=2e-3, atol=2e-5 * np.abs(g).max())


def test_seed_decides_the_initial_weights():
    spec = red_wine(8)
    model = NumpyModel(spec)
    want = initial_weights(spec.ir, spec.ir.train["seed"])
    got = model.get_weights()
    assert list(got) == list(spec.ir.tensors())
    for key in want:
        np.testing.assert_array_equal(got[key], want[key])
        assert got[key].dtype == np.float32
    other = NumpyModel(spec, seed=7).get_weights()
    np.testing.assert_array_equal(other["0.weight"], initial_weights(spec.ir, 7)["0.weight"])


def test_weights_round_trip_and_are_copies():
    spec = SPECS_SMALL["digits_cnn"]()
    a, b = NumpyModel(spec, seed=1), NumpyModel(spec, seed=2)
    x, _ = _data(spec, 4)
    x = x.astype(np.float32)
    assert not np.allclose(a._predict_batch(x), b._predict_batch(x))
    weights = a.get_weights()
    b.set_weights(weights)
    np.testing.assert_array_equal(a._predict_batch(x), b._predict_batch(x))
    weights["0.weight"][...] = 0  # a copy: the model is unchanged
    np.testing.assert_array_equal(a._predict_batch(x), b._predict_batch(x))
    for key, value in b.get_weights().items():
        np.testing.assert_array_equal(value, a.get_weights()[key])


def test_set_weights_rejects_mismatches():
    model = NumpyModel(red_wine(8))
    weights = model.get_weights()
    with pytest.raises(ValueError, match="missing"):
        model.set_weights({k: v for k, v in weights.items() if k != "0.bias"})
    with pytest.raises(ValueError, match=r"0\.weight"):
        model.set_weights({**weights, "0.weight": np.zeros((3, 3), np.float32)})


def test_training_steps_learn_and_are_deterministic():
    spec = red_wine(16)
    x, y = _data(spec, 64)
    x, y = x.astype(np.float32), (x[:, 0] * 2 + 1).astype(np.float32)
    adam = spec.ir.train["optimizer"]
    runs = []
    for _ in range(2):
        model = NumpyModel(spec)
        model._begin_training({**spec.ir.train, "optimizer": {**adam, "lr": 0.01}})
        losses = [model._train_step(x, y)[0] for _ in range(40)]
        runs.append((losses, model.get_weights()))
    assert runs[0][0] == runs[1][0]
    assert all(isinstance(v, float) for v in runs[0][0])
    assert runs[0][0][-1] < 0.7 * runs[0][0][0]
    for key, value in runs[0][1].items():
        np.testing.assert_array_equal(value, runs[1][1][key])


def test_train_step_outputs_and_state_updates():
    spec = red_wine(8)
    model = NumpyModel(spec)
    model._begin_training({**spec.ir.train, "optimizer": {"name": "sgd", "lr": 0.1}})
    x, y = _data(spec, 10)
    x, y = x.astype(np.float32), y.astype(np.float32)
    before = model.get_weights()
    # One step updates every trainable tensor and the batchnorm running statistics.
    loss, out = model._train_step(x, y)
    assert out.shape == (10, 1) and out.dtype == np.float32
    assert loss == pytest.approx(loss_value(spec.ir.train["loss"], out, y), rel=1e-6)
    after = model.get_weights()
    for key in before:
        assert not np.array_equal(before[key], after[key]), key


def test_evaluation_mode_is_deterministic_and_leaves_state_alone():
    spec = red_wine(8)
    model = NumpyModel(spec)
    x, _ = _data(spec, 7)
    x = x.astype(np.float32)
    before = model.get_weights()
    first = model._predict_batch(x)
    np.testing.assert_array_equal(first, model._predict_batch(x))
    assert first.dtype == np.float32 and first.shape == (7, 1)
    for key, value in model.get_weights().items():
        np.testing.assert_array_equal(value, before[key])


def test_crossentropy_training_with_integer_labels():
    spec = SPECS_SMALL["digits_cnn"]()
    model = NumpyModel(spec)
    model._begin_training(spec.ir.train)
    x, y = _data(spec, 16)
    losses = [model._train_step(x.astype(np.float32), y)[0] for _ in range(15)]
    assert np.isfinite(losses).all() and losses[-1] < losses[0]


def test_trains_and_predicts_at_the_deepest_nesting_allowed():
    from stackspec.limits import DEPTH_CEILING, Limits

    spec = stackspec.parse(deepest(), limits=Limits(depth=DEPTH_CEILING))
    model = spec.compile("numpy")
    X = np.random.default_rng(0).normal(size=(8, 2)).astype(np.float32)
    history = model.fit(X, X[:, 0], epochs=1, verbose=0)
    assert np.isfinite(history["loss"][-1])
    assert model.predict(X).shape == (8, 1)
