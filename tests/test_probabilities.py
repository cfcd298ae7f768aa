"""Probabilities done right (LANGUAGE.md §6): a final softmax with crossentropy, or sigmoid with
bce, is fused with the loss. The model outputs probabilities; the loss reads the pre-activation
through a stable log-softmax/log-sigmoid; predict and the metrics apply the activation once, so
the probability form and the logit form (`dense K` alone) give the same loss, metrics and
predictions from the same weights, and train alike from the same seed."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import DATA, HAS_TORCH
from test_emit import exec_source
from test_numpy_layers import assert_grad_close, make, numeric_grad

import stackspec
from stackspec.backends import emit_python
from stackspec.numerics import loss_and_grad, sigmoid_values, softmax_values

BACKENDS = [
    "numpy",
    pytest.param("torch", marks=pytest.mark.skipif(not HAS_TORCH, reason="no torch")),
]
TRAIN = (
    "train {{\n loss {loss}\n optimizer sgd lr=0.1\n batch 16\n epochs 6\n metrics {metrics}\n}}\n"
)
METRICS = ["accuracy", "mae", "mse"]

# (loss, probability-form head, logit-form head, classes)
FORMS = {
    "softmax": ("crossentropy", "dense 3 softmax", "dense 3", 3),
    "softmax layer": ("crossentropy", "dense 3\nsoftmax", "dense 3", 3),
    "sigmoid": ("bce", "dense 1 sigmoid", "dense 1", 1),
    "sigmoid layer": ("bce", "dense 1\nsigmoid", "dense 1", 1),
}


def spec_of(head: str, loss: str) -> stackspec.Spec:
    return stackspec.parse(
        f"input 4\ndense 8 tanh\n{head}\n" + TRAIN.format(loss=loss, metrics=" ".join(METRICS))
    )


def data(loss: str, classes: int, n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    score = x[:, 0] - 0.5 * x[:, 1] + 0.3 * rng.normal(size=n)
    if loss == "bce":
        return x, (score > 0).astype(np.float32)
    return x, np.digitize(score, [-0.5, 0.5]).astype(np.int64)


def activation(loss: str):
    return softmax_values if loss == "crossentropy" else sigmoid_values


def compiled(backend: str, spec):
    return spec.compile(backend, **({"device": "cpu"} if backend == "torch" else {}))


# --- the fused losses against the probability form, in float64 ---------------------------------


def probability_loss(loss: str, p: np.ndarray, y: np.ndarray) -> float:
    """Keras's from_logits=False without clipping: the loss on the probabilities themselves."""
    if loss == "crossentropy":
        return -np.mean(np.log(p[np.arange(len(y)), y]))
    p = p.reshape(y.shape)
    return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))


@pytest.mark.parametrize("loss", ["crossentropy", "bce"])
def test_fused_loss_gradient_wrt_the_pre_activation(loss):
    rng = np.random.default_rng(1)
    z = rng.normal(0, 2, (7, 4 if loss == "crossentropy" else 1))
    y = rng.integers(0, 4, 7) if loss == "crossentropy" else rng.integers(0, 2, 7).astype(float)
    value, grad = loss_and_grad({"name": loss}, z, y)
    assert value == pytest.approx(probability_loss(loss, activation(loss)(z), y), rel=1e-12)
    # d/dz = (softmax(z) - onehot) / N, (sigmoid(z) - y) / N
    if loss == "crossentropy":
        expected = softmax_values(z) - np.eye(4)[y]
    else:
        expected = sigmoid_values(z) - y[:, None]
    np.testing.assert_allclose(grad, expected / len(z), rtol=1e-12, atol=1e-15)

    def objective():
        return probability_loss(loss, activation(loss)(z), y)

    assert_grad_close(grad, numeric_grad(objective, z), f"{loss} w.r.t. the pre-activation")


@pytest.mark.parametrize("form", FORMS)
def test_fused_training_gradients_through_the_model(form):
    """Every weight's gradient of the fused training path (the network up to the
    pre-activation, then the fused loss) against central differences of the loss computed
    from the model's own probabilities, in float64."""
    loss, head, _, classes = FORMS[form]
    ir, ctx, forward = make("4", f"dense 5 tanh\n{head}\ntrain {{\n loss {loss}\n}}")
    from stackspec.backends.numpy.layers import build

    logits = build(ir.logit_nodes(), ctx)
    x, y = data(loss, classes, n=6)
    x = x.astype(np.float64)
    if loss == "bce":
        y = y.astype(np.float64)
    out, backprop = logits(x, True)
    backprop(loss_and_grad({"name": loss}, out, y)[1])
    grads = {k: g.copy() for k, g in ctx.grads.items()}

    def objective():
        return probability_loss(loss, forward(x, False)[0], y)

    for key, g in grads.items():
        assert_grad_close(g, numeric_grad(objective, ctx.params[key]), key)


# --- one model, two forms: same loss, metrics, predictions ---------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("form", FORMS)
def test_the_probability_and_logit_forms_agree(form, backend, tmp_path):
    loss, prob_head, logit_head, classes = FORMS[form]
    prob_spec, logit_spec = spec_of(prob_head, loss), spec_of(logit_head, loss)
    assert prob_spec.ir.fused_activation() and logit_spec.ir.fused_activation() is None
    prob, logit = compiled(backend, prob_spec), compiled(backend, logit_spec)
    weights = logit.get_weights()
    prob.set_weights(weights)
    x, y = data(loss, classes)
    a, b = prob.evaluate(x, y), logit.evaluate(x, y)
    assert a.keys() == b.keys() == {"loss", *METRICS}
    for key in a:
        assert a[key] == pytest.approx(b[key], rel=1e-6), key
    # predict: probabilities, the activation applied exactly once
    p = prob.predict(x)
    np.testing.assert_allclose(p, logit.predict(x), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(p, activation(loss)(logit._predict_batch(x)), rtol=1e-6)
    assert p.min() >= 0 and p.max() <= 1
    if loss == "crossentropy":
        np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-6)
    # the emitted source's output is the same probabilities
    prob.save(tmp_path / "w.safetensors")
    emitted = exec_source(emit_python(prob_spec, backend))["load"](str(tmp_path / "w.safetensors"))
    np.testing.assert_allclose(np.asarray(emitted(x)), p, rtol=1e-5, atol=1e-6)
    if backend == "torch":
        import torch

        prob.eval()
        with torch.no_grad():
            np.testing.assert_allclose(prob(torch.from_numpy(x)).numpy(), p, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("form", ["softmax", "sigmoid layer"])
def test_the_probability_form_trains_as_the_logit_form(form, backend):
    loss, prob_head, logit_head, classes = FORMS[form]
    x, y = data(loss, classes, n=256)
    histories = []
    for head in (prob_head, logit_head):
        model = compiled(backend, spec_of(head, loss))
        histories.append(model.fit(x, y, validation_split=0.25, verbose=0))
    prob, logit = histories
    np.testing.assert_allclose(prob["loss"], logit["loss"], rtol=1e-5)
    np.testing.assert_allclose(prob["val_loss"], logit["val_loss"], rtol=1e-5)
    assert prob["val_loss"][-1] < 0.6 * prob["val_loss"][0]  # it learns


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("form", FORMS)
def test_extreme_pre_activations_give_finite_losses_and_gradients(form, backend):
    loss, head, _, classes = FORMS[form]
    spec = spec_of(head, loss)
    model = compiled(backend, spec)
    weights = model.get_weights()
    last = spec.ir.nodes[-1 if "dense" in spec.ir.nodes[-1].op else -2].id
    weights[f"{last}.weight"] *= 2e4 / np.abs(weights[f"{last}.weight"]).sum(axis=1).max()
    model.set_weights(weights)
    x, y = data(loss, classes, n=16)
    x = np.sign(x) * 1.0  # tanh(±1): |z| up to near 1.5e4
    assert np.abs(model._predict_batch(x)).max() > 5e3
    result = model.evaluate(x, y)
    assert np.isfinite(result["loss"]) and result["loss"] > 1  # confidently wrong somewhere
    assert np.isfinite(model.predict(x)).all()
    model._begin_training(spec.ir.train)
    value, _ = model._train_step(x, y)
    assert np.isfinite(value)
    assert all(np.isfinite(w).all() for w in model.get_weights().values())


def test_cli_train_evaluate_and_predict_agree_between_the_forms(write_spec, tmp_path):
    """Through the CLI on the wine data, same seed: the probability form trains to the logit
    form's weights, evaluates to its numbers and predicts its probabilities (once)."""
    from test_cli_train import CLASSES, run, train

    outputs = {}
    for form, text in {"probs": CLASSES.replace("dense 10\n", "dense 10 softmax\n"),
                       "logits": CLASSES}.items():  # fmt: skip
        spec = write_spec(text, f"{form}.stack")
        assert train(spec, tmp_path / form).exit_code == 0
        weights = tmp_path / form / "weights.safetensors"
        common = ("--weights", weights, "--data", DATA, "--target", "quality")
        outputs[form] = (
            (tmp_path / form / "history.csv").read_text(),
            run("evaluate", spec, *common).stdout,
            run("predict", spec, *common).stdout,
        )
    assert outputs["probs"] == outputs["logits"]
    rows = outputs["probs"][2].splitlines()[1:]
    p = np.array([[float(v) for v in row.split(",")[:10]] for row in rows])
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-6)
