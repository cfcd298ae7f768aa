"""NumPy and PyTorch backends compute the same thing (LANGUAGE.md §5), driven by the registry.

Tolerances are relative to the reference tensor's magnitude: |a - b| <= rel * (|b| + max|b|).
Eval-mode outputs 1e-5; train-mode outputs and gradients 1e-4 (dropout rate set to 0, since each
backend draws its own masks); optimizer steps and running statistics 1e-5/1e-4; two epochs of
training 1e-3. Every test runs on the CPU and, where a CUDA GPU is present, on it too.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import (
    DATA,
    EXAMPLES,
    SPECS,
    dims,
    every_layer_specs,
    example_inputs,
    needs_cuda,
    needs_torch,
    takes_ids,
    varied_weights,
)

import stackspec
from stackspec.layers import ACTIVATIONS
from stackspec.numerics import loss_and_grad

pytestmark = needs_torch
torch = pytest.importorskip("torch")

DEVICES = ["cpu", pytest.param("cuda", marks=needs_cuda)]


@pytest.fixture(params=DEVICES)
def device(request):
    if request.param == "cuda":
        # §5 says float32: keep cuBLAS and cuDNN from computing in TF32 for the comparison.
        old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
        yield "cuda"
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old
    else:
        yield "cpu"


# (input, layers): the registry's examples, and residual, concat and add (structural: no
# registry entry).
LAYER_CASES = [
    *((dims(shape), call) for _, call, shape in EXAMPLES),
    ("6", "residual {\n dense 8 relu\n batchnorm\n dense 6\n}"),
    ("2x4x4", "residual {\n conv2d 2 elu padding=same\n residual {\n layernorm\n }\n}"),
    ("6", "concat {\n branch { dense 4 relu }\n branch { }\n branch { batchnorm | dense 2 }\n}"),
    (
        "2x4x4",
        "concat {\n branch { conv2d 3 padding=same }\n"
        " branch { maxpool2d 3 stride=1 padding=1 }\n}",
    ),
    ("5", "add {\n branch { dense 5 tanh }\n branch { residual { dense 5 } }\n}"),
]
CASE_IDS = [f"{text}@{shape}" for shape, text in LAYER_CASES]

SPEC_FILES = sorted(SPECS.glob("*.stack"))


def no_dropout(text: str) -> str:
    """The spec with every dropout rate 0: each backend draws its own masks."""
    return re.sub(r"\bdropout\s+[^\s|}]+", "dropout 0", text)


def small(path, edit=lambda text: text) -> stackspec.Spec:
    """The spec file with its `let width` (if any) at 16."""
    text = edit(path.read_text())
    overrides = {"width": "16"} if re.search(r"^let width\b", text, re.M) else None
    return stackspec.parse(text, str(path), overrides)


def pair(spec, device, weights=None):
    np_model = spec.compile("numpy")
    t_model = spec.compile("torch", device=device)
    weights = varied_weights(spec) if weights is None else weights
    np_model.set_weights(weights)
    t_model.set_weights(weights)
    return np_model, t_model


def close(actual, expected, rel, what="", scale=None):
    """Within rel of the largest expected value (or of `scale`)."""
    actual = np.asarray(actual, np.float64)
    expected = np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, what
    scale = np.abs(expected).max(initial=0.0) if scale is None else scale
    np.testing.assert_allclose(actual, expected, rtol=rel, atol=rel * scale, err_msg=what)


def batch(spec, n=6, seed=1):
    return example_inputs(spec.ir, n, seed, 1.5)


def check_eval(spec, device):
    np_model, t_model = pair(spec, device)
    x = batch(spec)
    close(t_model._predict_batch(x), np_model._predict_batch(x), 1e-5, "eval outputs")


def check_train_gradients(spec, device):
    """Train mode: outputs, input gradient, every parameter gradient, running statistics."""
    np_model, t_model = pair(spec, device)
    x = batch(spec)
    y, backprop = np_model.forward(x, True)
    dy = np.random.default_rng(2).normal(size=y.shape).astype(np.float32)
    dx = backprop(dy.copy())

    t_model.train()
    xt = torch.tensor(x, device=device, requires_grad=True)
    yt = t_model(xt)
    yt.backward(torch.tensor(dy, device=device))
    close(yt.detach().cpu(), y, 1e-4, "train outputs")
    if takes_ids(spec.ir):  # ids: torch gives no gradient, ours is zeros
        assert xt.grad is None and not dx.any()
    else:
        close(xt.grad.cpu(), dx, 1e-4, "input gradient")
    for key, (module, name) in t_model._slots.items():
        param = getattr(module, name)
        if key in np_model.grads:
            # Relative to the largest gradient of the node's tensors: one that is zero in exact
            # arithmetic (attention's key bias: softmax ignores a shift common to a row's scores)
            # is float32 rounding in both backends, on the scale of its neighbours' terms.
            node = key.rsplit(".", 1)[0] + "."
            grads = [g for k, g in np_model.grads.items() if k.startswith(node)]
            scale = max(np.abs(g).max(initial=0.0) for g in grads)
            close(param.grad.cpu(), np_model.grads[key], 1e-4, f"gradient of {key}", scale)
        else:
            close(param.cpu(), np_model.params[key], 1e-5, f"running statistic {key}")


@pytest.mark.parametrize(("shape", "text"), LAYER_CASES, ids=CASE_IDS)
def test_layer_eval_outputs(shape, text, device):
    check_eval(stackspec.parse(f"input {shape}\n{text}"), device)


@pytest.mark.parametrize(("shape", "text"), LAYER_CASES, ids=CASE_IDS)
def test_layer_train_outputs_and_gradients(shape, text, device):
    check_train_gradients(stackspec.parse(f"input {shape}\n{no_dropout(text)}"), device)


@pytest.mark.parametrize("path", SPEC_FILES, ids=[p.stem for p in SPEC_FILES])
def test_spec_eval_outputs(path, device):
    check_eval(small(path), device)


@pytest.mark.parametrize("path", SPEC_FILES, ids=[p.stem for p in SPEC_FILES])
def test_spec_train_outputs_and_gradients(path, device):
    check_train_gradients(small(path, no_dropout), device)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_an_activation_on_large_inputs(activation, device):
    spec = stackspec.parse(f"input 8\n{activation}")
    np_model, t_model = pair(spec, device)
    x = np.array([[-90, -30, -3, -1e-3, 0, 2, 25, 90]], np.float32)
    close(t_model._predict_batch(x), np_model._predict_batch(x), 1e-5)


OPTIMIZERS = [
    "adam",
    "adam lr=0.01 beta1=0.8 beta2=0.99 eps=0.00001",
    "adamw lr=0.01 weight_decay=0.1",
    "sgd lr=0.1",
    "sgd lr=0.1 momentum=0.9",
    "sgd lr=0.1 momentum=0.9 nesterov=true",
    "rmsprop lr=0.01 rho=0.8",
]
LOSSES = [
    ("mse", 1),
    ("mae", 1),
    ("huber delta=0.5", 1),
    ("bce", 1),
    ("mse", 3),
    ("crossentropy", 3),
]


def targets(loss: str, outputs: int, n: int, seed=3):
    rng = np.random.default_rng(seed)
    if loss == "crossentropy":
        return rng.integers(0, outputs, n)
    if loss == "bce":
        return rng.integers(0, 2, (n,) if outputs == 1 else (n, outputs)).astype(np.float32)
    return rng.normal(size=(n,) if outputs == 1 else (n, outputs)).astype(np.float32)


def train_both(spec, device, steps, loss="mse", outputs=1):
    np_model, t_model = pair(spec, device)
    results = []
    for model in (np_model, t_model):
        model._begin_training(spec.ir.train)
        losses = []
        for step in range(steps):
            x = batch(spec, n=8, seed=10 + step)
            y = targets(loss.split()[0], outputs, 8, seed=20 + step)
            losses.append(model._train_step(x, y)[0])
        results.append((losses, model.get_weights()))
    return results


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_optimizer_steps_give_equal_weights(optimizer, device):
    spec = stackspec.parse(
        f"input 5\ndense 8 tanh\nbatchnorm\ndense 1\ntrain {{\n optimizer {optimizer}\n}}"
    )
    for steps in (1, 3):
        (_, np_w), (_, t_w) = train_both(spec, device, steps)
        for key in np_w:
            close(t_w[key], np_w[key], 1e-5 if steps == 1 else 1e-4, f"{key} after {steps}")


@pytest.mark.parametrize(("loss", "outputs"), LOSSES, ids=[f"{x}-{n}" for x, n in LOSSES])
def test_losses_and_their_gradients_agree(loss, outputs, device):
    spec = stackspec.parse(
        f"input 4\ndense 6 relu\ndense {outputs}\ntrain {{\n loss {loss}\n optimizer sgd\n}}"
    )
    (np_losses, np_w), (t_losses, t_w) = train_both(spec, device, 2, loss, outputs)
    close(t_losses, np_losses, 1e-5, "loss values")
    for key in np_w:
        close(t_w[key], np_w[key], 1e-5, key)


FUSED = [("crossentropy", "dense 3 softmax", 3), ("bce", "dense 1 sigmoid", 1)]
FUSED += [("crossentropy", "dense 3\nsoftmax", 3), ("bce", "dense 2\nsigmoid", 2)]


@pytest.mark.parametrize(("loss", "head", "outputs"), FUSED, ids=[h for _, h, _ in FUSED])
def test_fused_losses_and_their_gradients_agree(loss, head, outputs, device):
    """A final softmax/sigmoid fused with its loss (§6): the loss on the pre-activation, every
    weight's gradient and the weights after one and after three steps agree."""
    spec = stackspec.parse(
        f"input 4\ndense 6 relu\n{head}\ntrain {{\n loss {loss}\n optimizer sgd lr=0.5\n}}"
    )
    assert spec.ir.fused_activation()
    np_model, t_model = pair(spec, device)
    x, y = batch(spec, n=8), targets(loss, outputs, 8)
    out, backprop = np_model.logits(x, True)
    value, dout = loss_and_grad(spec.ir.train["loss"], out, y)
    backprop(dout)
    t_model._begin_training(spec.ir.train)
    t_loss = t_model._loss(
        t_model._aligned(t_model.logits(t_model._tensor(x)), y), t_model._tensor(y, t_model._labels)
    )
    t_loss.backward()
    close(t_loss.item(), value, 1e-5, "loss")
    for key, (module, name) in t_model._slots.items():
        close(getattr(module, name).grad.cpu(), np_model.grads[key], 1e-4, f"gradient of {key}")
    for steps in (1, 3):
        (np_losses, np_w), (t_losses, t_w) = train_both(spec, device, steps, loss, outputs)
        close(t_losses, np_losses, 1e-5, "loss values")
        for key in np_w:
            close(t_w[key], np_w[key], 1e-5 if steps == 1 else 1e-4, f"{key} after {steps}")


@pytest.mark.parametrize(
    "layers",
    [
        "input 2x5x5\nconv2d 3\nbatchnorm momentum=0.8\nflatten\ndense 6\n"
        "batchnorm momentum=0.9 eps=0.01\ndense 1\n",
        # On (T,F) the statistics are over the batch and time, one prelu slope per feature.
        "input 6x3\nconv1d 4 kernel=3\nbatchnorm momentum=0.8\nprelu\nglobalavgpool\ndense 1\n",
    ],
    ids=["images", "sequences"],
)
def test_batchnorm_running_statistics_after_several_steps(device, layers):
    spec = stackspec.parse(layers + "train {\n optimizer sgd lr=0.05\n}")
    (_, np_w), (_, t_w) = train_both(spec, device, 5)
    for key in np_w:
        close(t_w[key], np_w[key], 1e-4, key)
    assert not np.allclose(np_w["1.running_var"], varied_weights(spec)["1.running_var"])


def wine(n=None):
    table = np.loadtxt(DATA, delimiter=",", skiprows=1, dtype=np.float32)[:n]
    return table[:, :-1], table[:, -1]


def test_initial_weights_are_equal_in_saved_files(tmp_path):
    from safetensors.numpy import load_file

    spec = stackspec.load(SPECS / "tiny_resnet.stack")
    for backend in ("numpy", "torch"):
        spec.compile(backend, seed=5).save(tmp_path / f"{backend}.safetensors")
    a, b = (load_file(tmp_path / f"{x}.safetensors") for x in ("numpy", "torch"))
    assert list(a) == list(b)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


def test_every_layers_weights_round_trip_between_the_backends(tmp_path):
    for name, text in every_layer_specs().items():
        spec = stackspec.parse(text)
        want = varied_weights(spec)
        for saved, loaded in (("numpy", "torch"), ("torch", "numpy")):
            model = spec.compile(saved, **({"device": "cpu"} if saved == "torch" else {}))
            model.set_weights(want)
            model.save(tmp_path / "w.safetensors")
            other = spec.compile(loaded, **({"device": "cpu"} if loaded == "torch" else {}))
            got = other.load(tmp_path / "w.safetensors").get_weights()
            assert list(got) == list(want), name
            for key in want:
                np.testing.assert_array_equal(got[key], want[key], err_msg=f"{name}: {key}")


@pytest.mark.parametrize(("trained", "loaded"), [("numpy", "torch"), ("torch", "numpy")])
def test_weights_trained_in_one_backend_load_into_the_other(trained, loaded, tmp_path, device):
    spec = stackspec.parse(
        no_dropout((SPECS / "wine_blocks.stack").read_text()), "w", {"width": "32"}
    )
    X, y = wine(400)
    options = {"device": device}
    model = spec.compile(trained, **(options if trained == "torch" else {}))
    model.fit(X, y, epochs=1, verbose=0)
    model.save(tmp_path / "w.safetensors")
    other = spec.compile(loaded, **(options if loaded == "torch" else {}))
    other.load(tmp_path / "w.safetensors")
    close(other.predict(X), model.predict(X), 1e-5, "predictions")


# Specs whose training is well conditioned. Not red_wine.stack or wine_blocks.stack: with MAE,
# batchnorm and Adam, many gradient entries are rounding noise far below 1e-6 that Adam scales
# to full lr-sized steps, so float32 runs drift apart (by 1-30% after 2 epochs) whatever the
# backend; measured against float64, both backends' steps are equally close. See
# benchmarks/README.md.
@pytest.mark.parametrize(
    "path", ["digits_cnn.stack", "residual_mlp.stack", "wine_classifier.stack"]
)
def test_two_epochs_from_the_same_seed_end_with_equal_predictions(path, device):
    spec = stackspec.parse(re.sub(r"\bdropout [^\s|}]+\s*\|?", "", (SPECS / path).read_text()))
    assert not any(n.op == "dropout" for n in spec.ir.walk())
    X, quality = wine(640)
    X = (X - X.mean(0)) / X.std(0)
    if path == "digits_cnn.stack":  # 8x8 "images": the wine features tiled
        X = np.tile(X, 6)[:, :64]
    y = quality.astype(np.int64) if spec.ir.train["loss"]["name"] == "crossentropy" else quality
    predictions = []
    for backend in ("numpy", "torch"):
        model = spec.compile(backend, **({"device": device} if backend == "torch" else {}))
        history = model.fit(X, y, epochs=2, verbose=0)
        assert history.stop_reason == "completed"
        predictions.append(model.predict(X))
    assert not np.allclose(predictions[0], spec.compile("numpy").predict(X), rtol=0.01)
    close(predictions[1], predictions[0], 1e-3, "predictions after 2 epochs")
