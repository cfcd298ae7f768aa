"""The PyTorch backend: a plain nn.Module of native modules, §5 semantics, the Model API."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SPECS, deepest, every_layer_specs, needs_cuda, needs_torch

import stackspec
from stackspec.layers import ACTIVATIONS, LAYERS, STRUCTURAL

pytestmark = needs_torch

torch = pytest.importorskip("torch")
nn = torch.nn

from stackspec.backends.torch import layers as torch_layers  # noqa: E402
from stackspec.backends.torch.modules import Residual  # noqa: E402
from stackspec.diagnostics import UserError  # noqa: E402
from stackspec.layers.init import initial_weights  # noqa: E402

SPECS_OF_EVERY_LAYER = every_layer_specs()


def native(module) -> bool:
    """A module of torch.nn itself (or one of the few that torch.nn lacks, layers.LOCAL, defined
    in model.py, attention.py or lookups.py): what a user's own code would build."""
    cls = type(module)
    package = Residual.__module__.rsplit(".", 1)[0]  # model.py's, attention.py's, lookups.py's
    own = cls.__module__.startswith(package + ".") and cls.__name__ in torch_layers.LOCAL
    return cls.__module__.startswith("torch.nn.") or own


def compile_text(text: str, **options):
    return stackspec.parse(text).compile("torch", device="cpu", **options)


def test_every_registry_key_has_a_torch_function_named_as_the_key():
    for name in (*LAYERS, *STRUCTURAL):
        if name in ACTIVATIONS:  # one function for every activation, a table of classes
            assert torch_layers.LAYER_FUNCTIONS[name] is torch_layers.activation_layer
            assert hasattr(nn, torch_layers.ACTIVATIONS[name].cls)
            continue
        fn = getattr(torch_layers, name, None)
        assert callable(fn), f"the torch backend lacks a function for '{name}'"
        assert fn.__name__ == name
        assert torch_layers.LAYER_FUNCTIONS[name] is fn


@pytest.mark.parametrize("name", SPECS_OF_EVERY_LAYER)
def test_the_model_is_a_flat_sequential_of_native_modules(name):
    model = compile_text(SPECS_OF_EVERY_LAYER[name])
    assert isinstance(model, nn.Module)
    assert type(model.layers) is nn.Sequential
    for module in model.modules():
        if module is not model:
            assert native(module), type(module)
    # dense + activation are spliced into the top level: no nested Sequential outside residual
    assert not any(type(m) is nn.Sequential for m in model.layers)


def test_batchnorm_converts_momentum_and_carries_eps():
    model = compile_text("input 4\nbatchnorm momentum=0.9 eps=0.01")
    bn = model.layers[0]
    assert isinstance(bn, nn.BatchNorm1d)
    assert bn.momentum == pytest.approx(0.1) and bn.eps == 0.01
    image = compile_text("input 2x3x3\nbatchnorm").layers[0]
    assert isinstance(image, nn.BatchNorm2d)
    assert image.momentum == pytest.approx(0.01) and image.eps == 0.001


@pytest.mark.parametrize("name", SPECS_OF_EVERY_LAYER)
def test_weights_round_trip_with_the_ir_keys_and_layouts(name):
    spec = stackspec.parse(SPECS_OF_EVERY_LAYER[name])
    model = spec.compile("torch", device="cpu")
    weights = model.get_weights()
    tensors = spec.ir.tensors()
    assert list(weights) == list(tensors)
    for key, w in tensors.items():
        assert weights[key].shape == w.shape and weights[key].dtype == np.float32
        module, slot = model._slots[key]
        assert tuple(getattr(module, slot).shape) == w.shape  # the IR's layout, untransposed
    assert not any("num_batches_tracked" in k for k in weights)
    rng = np.random.default_rng(0)
    new = {k: rng.normal(size=v.shape).astype(np.float32) for k, v in weights.items()}
    model.set_weights(new)
    for key, value in model.get_weights().items():
        np.testing.assert_array_equal(value, new[key])


def test_initial_weights_come_from_the_shared_initializer():
    spec = stackspec.load(SPECS / "tiny_resnet.stack")
    expected = initial_weights(spec.ir, 7)
    got = spec.compile("torch", seed=7, device="cpu").get_weights()
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key])
    default = spec.compile("torch", device="cpu").get_weights()  # the spec's seed
    np.testing.assert_array_equal(
        default["0.weight"], initial_weights(spec.ir, spec.ir.train["seed"])["0.weight"]
    )


def test_set_weights_rejects_wrong_shapes_and_keys():
    model = compile_text("input 3\ndense 2")
    good = model.get_weights()
    with pytest.raises(ValueError, match=r"0.weight: expected shape \(2, 3\)"):
        model.set_weights({**good, "0.weight": np.zeros((3, 2), np.float32)})
    with pytest.raises(ValueError, match="missing"):
        model.set_weights({"0.weight": good["0.weight"]})


def test_forward_in_train_and_eval_modes_like_any_module():
    model = compile_text("input 4\ndense 16 relu\ndropout 0.5\ndense 1")
    x = torch.randn(8, 4)
    model.eval()
    np.testing.assert_array_equal(model(x).detach(), model(x).detach())
    np.testing.assert_allclose(model(x).detach().numpy(), model._predict_batch(x.numpy()))
    model.train()
    torch.manual_seed(0)
    a = model(x).detach()
    torch.manual_seed(1)
    assert not torch.equal(a, model(x).detach())  # dropout active in training mode
    assert model.training  # _predict_batch restored the mode it found


def test_snapshot_and_restore_stay_on_the_device():
    model = compile_text("input 3\ndense 4\nbatchnorm")
    snapshot = model._snapshot()
    saved = model.get_weights()
    model.set_weights({k: v + 1 for k, v in saved.items()})
    model._restore(snapshot)
    for key, value in model.get_weights().items():
        np.testing.assert_array_equal(value, saved[key])


def test_predict_batch_does_not_touch_running_statistics():
    model = compile_text("input 3\nbatchnorm")
    before = model.get_weights()
    model.train()
    model._predict_batch(np.ones((4, 3), np.float32) * 5)
    for key, value in model.get_weights().items():
        np.testing.assert_array_equal(value, before[key])


def test_a_users_own_training_loop_and_torch_compile():
    model = compile_text("input 3\ndense 8 relu\nbatchnorm\ndense 1")
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(16, 3), torch.randn(16, 1)
    losses = []
    for _ in range(5):
        loss = torch.nn.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    model.eval()
    compiled = torch.compile(model, backend="aot_eager")  # tracing, without a C++ toolchain
    torch.testing.assert_close(compiled(x), model(x))


@pytest.mark.parametrize(
    ("optimizer", "cls", "expected"),
    [
        ("adam", torch.optim.Adam, {"eps": 1e-7, "betas": (0.9, 0.999), "weight_decay": 0}),
        ("adamw lr=0.01 weight_decay=0.1", torch.optim.AdamW, {"weight_decay": 0.1, "lr": 0.01}),
        ("sgd momentum=0.9 nesterov=true", torch.optim.SGD, {"momentum": 0.9, "nesterov": True}),
        ("sgd nesterov=true", torch.optim.SGD, {"momentum": 0, "nesterov": False}),
        ("rmsprop rho=0.8", torch.optim.RMSprop, {"alpha": 0.8, "eps": 1e-7}),
    ],
)
def test_optimizers_are_torch_optim_with_our_hyperparameters(optimizer, cls, expected):
    spec = stackspec.parse(f"input 3\ndense 1\ntrain {{\n optimizer {optimizer}\n}}")
    model = spec.compile("torch", device="cpu")
    model._begin_training(spec.ir.train)
    assert type(model._optimizer) is cls
    group = model._optimizer.param_groups[0]
    for key, value in expected.items():
        assert group[key] == value, key


@pytest.mark.parametrize(
    ("loss", "y", "expected"),
    [
        ("mse", [1.0, 2.0], (0.25 + 0.0) / 2),
        ("mae", [1.0, 2.0], 0.5 / 2),
        ("huber delta=0.2", [1.0, 2.0], (0.2 * (0.5 - 0.1)) / 2),
        ("bce", [1.0, 0.0], float(np.mean(np.log1p(np.exp([-1.5, 2.0]))))),
    ],
)
def test_losses_squeeze_a_single_output_never_broadcast(loss, y, expected):
    spec = stackspec.parse(f"input 1\ndense 1 bias=false init=zeros\ntrain {{\n loss {loss}\n}}")
    model = spec.compile("torch", device="cpu")
    model.set_weights({"0.weight": np.ones((1, 1), np.float32)})
    model._begin_training(spec.ir.train)
    x = np.array([[1.5], [2.0]], np.float32)
    value, out = model._train_step(x, np.array(y, np.float32))
    assert value == pytest.approx(expected, rel=1e-6)
    assert out.shape == (2, 1) and out.dtype == np.float32


def test_crossentropy_takes_integer_labels():
    spec = stackspec.parse("input 2\ndense 3\ntrain {\n loss crossentropy\n}")
    model = spec.compile("torch", device="cpu")
    model._begin_training(spec.ir.train)
    x = np.eye(2, dtype=np.float32)
    logits = model._predict_batch(x)
    value, _ = model._train_step(x, np.array([0, 2]))
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    assert value == pytest.approx(-(log_p[0, 0] + log_p[1, 2]) / 2, rel=1e-5)


def test_mismatched_targets_are_an_error_not_a_broadcast():
    spec = stackspec.parse("input 2\ndense 3\ntrain {\n loss mse\n}")
    model = spec.compile("torch", device="cpu")
    model._begin_training(spec.ir.train)
    with pytest.raises(ValueError, match="do not match"):
        model._train_step(np.ones((4, 2), np.float32), np.ones(4, np.float32))


def test_dropout_masks_follow_the_seed():
    spec = stackspec.parse("input 4\ndense 32 relu\ndropout 0.5\ndense 1\ntrain {\n seed 3\n}")
    x, y = np.ones((8, 4), np.float32), np.ones(8, np.float32)

    def one_step(seed):
        model = spec.compile("torch", seed=0, device="cpu")
        model._begin_training({**spec.ir.train, "seed": seed})
        return model._train_step(x, y)[1]

    np.testing.assert_array_equal(one_step(3), one_step(3))
    assert not np.array_equal(one_step(3), one_step(4))


def test_device_choice():
    auto = stackspec.parse("input 2\ndense 1").compile("torch")
    assert auto.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert compile_text("input 2\ndense 1").device.type == "cpu"
    with pytest.raises(UserError, match="unknown device"):
        stackspec.parse("input 2\ndense 1").compile("torch", device="tpu9")
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="no CUDA GPU"):
            stackspec.parse("input 2\ndense 1").compile("torch", device="cuda")


@needs_cuda
def test_cuda_training_step_and_weights():
    spec = stackspec.load(SPECS / "red_wine.stack", {})
    model = spec.compile("torch", device="cuda")
    assert next(model.parameters()).is_cuda
    model._begin_training(spec.ir.train)
    loss, out = model._train_step(np.ones((8, 11), np.float32), np.ones(8, np.float32))
    assert np.isfinite(loss) and out.shape == (8, 1)
    assert all(v.dtype == np.float32 for v in model.get_weights().values())
    snapshot = model._snapshot()
    assert all(t.is_cuda for t in snapshot.values())
    before = model.get_weights()
    model._train_step(np.ones((8, 11), np.float32), np.ones(8, np.float32))
    model._restore(snapshot)
    for key, value in model.get_weights().items():
        np.testing.assert_array_equal(value, before[key])
    model.to("cpu")
    assert model.device.type == "cpu"
    model._begin_training(spec.ir.train)  # the optimizer's state lives where the weights do
    model._train_step(np.ones((8, 11), np.float32), np.ones(8, np.float32))


def wine_arrays(n=300):
    from conftest import DATA

    table = np.loadtxt(DATA, delimiter=",", skiprows=1, dtype=np.float32)[:n]
    return table[:, :-1], table[:, -1]


SMALL_WINE = """
input 11
batchnorm
dense 32 relu | dropout 0.2 | batchnorm
dense 1
train {
  loss mae
  optimizer adam lr=0.01
  batch 64
  epochs 3
  metrics mse
}
"""


def test_fit_predict_evaluate_save_load(tmp_path):
    X, y = wine_arrays()
    spec = stackspec.parse(SMALL_WINE)
    model = spec.compile("torch", device="cpu")
    history = model.fit(X, y, validation_split=0.25, verbose=0)
    assert list(history) == ["loss", "val_loss", "mse", "val_mse", "lr"]
    assert len(history["loss"]) == 3 and history["loss"][-1] < history["loss"][0]
    predictions = model.predict(X)
    assert predictions.shape == (len(X), 1) and predictions.dtype == np.float32
    scores = model.evaluate(X, y)
    assert set(scores) == {"loss", "mse"}
    assert scores["loss"] == pytest.approx(np.abs(predictions[:, 0] - y).mean(), rel=1e-5)
    model.save(tmp_path / "w.safetensors")
    again = spec.compile("torch", seed=99, device="cpu").load(tmp_path / "w.safetensors")
    np.testing.assert_array_equal(again.predict(X), predictions)


def test_same_seed_same_training_with_dropout():
    X, y = wine_arrays(200)
    spec = stackspec.parse(SMALL_WINE)
    runs = []
    for seed in (0, 0, 1):
        model = spec.compile("torch", device="cpu")
        model.fit(X, y, epochs=2, seed=seed, verbose=0)
        runs.append(model.get_weights()["1.weight"])
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


def test_a_diverging_loss_stops_training_with_the_last_finite_weights():
    X, y = wine_arrays(200)
    spec = stackspec.parse("input 11\ndense 8\ndense 1\ntrain {\n optimizer sgd lr=1e6\n}")
    model = spec.compile("torch", device="cpu")
    history = model.fit(X, y * 1e10, epochs=3, verbose=0)
    assert history.stop_reason == "nan"
    assert all(np.isfinite(v).all() for v in model.get_weights().values())


def test_cli_train_evaluate_predict_with_backend_torch(tmp_path):
    from click.testing import CliRunner
    from conftest import DATA

    from stackspec.cli import main

    spec = tmp_path / "wine.stack"
    spec.write_text(SMALL_WINE)
    out = tmp_path / "run"
    torch_cpu = ["--backend", "torch", "--device", "cpu"]
    runner = CliRunner()
    common = ["--data", str(DATA), "--target", "quality"]
    result = runner.invoke(
        main, ["train", str(spec), *common, *torch_cpu, "--epochs", "2", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    for name in ("weights.safetensors", "history.csv", "curves.png"):
        assert (out / name).exists(), name
    weights = ["--weights", str(out / "weights.safetensors")]
    result = runner.invoke(main, ["evaluate", str(spec), *weights, *common, *torch_cpu])
    assert result.exit_code == 0, result.output
    assert "loss:" in result.output and "mse:" in result.output
    predictions = tmp_path / "p.csv"
    result = runner.invoke(
        main, ["predict", str(spec), *weights, *common, *torch_cpu, "-o", str(predictions)]
    )
    assert result.exit_code == 0, result.output
    lines = predictions.read_text().splitlines()
    assert lines[0] == "prediction" and len(lines) == 1600
    # The NumPy backend reads the same file and predicts the same values.
    result = runner.invoke(
        main, ["predict", str(spec), *weights, *common, "-o", str(tmp_path / "n.csv")]
    )
    assert result.exit_code == 0, result.output
    a = np.loadtxt(predictions, skiprows=1)
    b = np.loadtxt(tmp_path / "n.csv", skiprows=1)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * np.abs(b).max())


def test_trains_and_predicts_at_the_deepest_nesting_allowed():
    # torch calls each nested residual through six Python frames; the depth ceiling keeps the
    # forward within Python's recursion limit, with room for the caller's frames.
    from stackspec.limits import DEPTH_CEILING, Limits

    spec = stackspec.parse(deepest(), limits=Limits(depth=DEPTH_CEILING))
    model = spec.compile("torch", device="cpu")
    X = np.random.default_rng(0).normal(size=(8, 2)).astype(np.float32)
    history = model.fit(X, X[:, 0], epochs=1, verbose=0)
    assert np.isfinite(history["loss"][-1])
    assert model.predict(X).shape == (8, 1)
