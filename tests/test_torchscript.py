"""The compiled torch model and the emitted torch source under torch.jit.script, torch.jit.trace,
torch.export.export and torch.compile: each gives the eager module's outputs (evaluation mode).

The emitted source is imported from a file, as a user would: TorchScript reads a class's source
with `inspect`, which a module made by exec() has none of.
"""

from __future__ import annotations

import importlib.util
import re
import warnings

import numpy as np
import pytest
from conftest import SPECS, every_layer_specs, example_inputs

import stackspec
from stackspec.backends import emit_python

torch = pytest.importorskip("torch")
# torch 2.13 deprecates TorchScript in favour of torch.export; it still works, and users use it.
pytestmark = [pytest.mark.torch, pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")]

SPEC_FILES = sorted(SPECS.glob("*.stack"))
# A few registry examples that the spec files lack: a 1-feature dense with no activation, the
# local Normalize module on images, rmsnorm, softmax on images, and a nested residual.
EXAMPLES = ("normalize@2x3x3", "rmsnorm@2x3x4", "softmax@2x3x4", "flatten@2x3x4", "residual")
METHODS = ("script", "trace", "export")


def spec_cases() -> dict[str, stackspec.Spec]:
    specs = {}
    for path in SPEC_FILES:
        text = path.read_text()
        overrides = {"width": "16"} if re.search(r"^let width\b", text, re.M) else None
        specs[path.stem] = stackspec.parse(text, str(path), overrides)
    examples = every_layer_specs()
    for name in EXAMPLES:
        specs[name] = stackspec.parse(examples[name], f"{name}.stack")
    return specs


SPECS_UNDER_TEST = spec_cases()


def compiled_model(spec):
    """The compiled model with varied weights and running statistics, in evaluation mode."""
    model = spec.compile("torch", device="cpu", seed=3)
    rng = np.random.default_rng(0)
    weights = model.get_weights()
    for key, w in weights.items():
        if key.endswith(("running_var", ".var")):
            weights[key] = rng.uniform(0.5, 2.0, w.shape).astype(np.float32)
        else:
            weights[key] = (w + rng.normal(0, 0.2, w.shape)).astype(np.float32)
    model.set_weights(weights)
    return model.eval()


def emitted_model(spec, tmp_path, state_dict):
    path = tmp_path / "emitted_model.py"
    path.write_text(emit_python(spec, "torch"))
    found = importlib.util.spec_from_file_location(f"emitted_{abs(hash(str(path)))}", path)
    module = importlib.util.module_from_spec(found)
    found.loader.exec_module(module)
    model = module.Model()
    model.load_state_dict(state_dict)
    return model.eval()


def converted(method: str, model, x):
    """`model` turned into what `method` makes of it, as a callable on tensors."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # trace's warnings about Python values it records
        if method == "script":
            return torch.jit.script(model)
        if method == "trace":
            return torch.jit.trace(model, (x,))
        return torch.export.export(model, (x,)).module()


def example_batch(spec) -> torch.Tensor:
    return torch.from_numpy(example_inputs(spec.ir, 4, 1, 1.5))


@pytest.mark.parametrize("name", list(SPECS_UNDER_TEST))
def test_compiled_and_emitted_models_script_trace_and_export_to_the_eager_outputs(name, tmp_path):
    spec = SPECS_UNDER_TEST[name]
    compiled = compiled_model(spec)
    emitted = emitted_model(spec, tmp_path, compiled.state_dict())
    x = example_batch(spec)
    with torch.no_grad():
        want = compiled(x)
        want_logits = compiled.logits(x)
        np.testing.assert_array_equal(emitted(x).numpy(), want.numpy())
        for method in METHODS:
            for which, model in (("compiled", compiled), ("emitted", emitted)):
                got = converted(method, model, x)(x)
                np.testing.assert_allclose(
                    got.numpy(), want.numpy(), rtol=0, atol=1e-6, err_msg=f"{which} {method}"
                )
        # `logits` (what the loss reads, without a fused final activation) scripts too.
        scripted = torch.jit.script(compiled)
        np.testing.assert_allclose(scripted.logits(x).numpy(), want_logits.numpy(), atol=1e-6)


RECURRENT_CALLS = [
    f"{cell} {units}{sequences}{both}"
    for cell, units in (("lstm", 2), ("gru", 3))
    for sequences in ("", " return_sequences=true")
    for both in ("", " bidirectional=true")
]


@pytest.mark.parametrize("text", RECURRENT_CALLS)
def test_recurrent_models_script_trace_and_export(text, tmp_path):
    """Recurrent (nn.LSTM/nn.GRU) scripts, traces and exports, compiled and emitted, both
    directions, the last step or every step. (The compiled model traces since `logits` is
    exported on the module that script compiles, not on the model: tracing compiled exported
    methods, and TorchScript then found no overload of nn.LSTM's forward, "Couldn't find
    method: 'forward__0'".)"""
    spec = stackspec.parse(f"input 4x3\n{text}\ndense 2\n")
    compiled = compiled_model(spec)
    emitted = emitted_model(spec, tmp_path, compiled.state_dict())
    x = example_batch(spec)
    with torch.no_grad():
        want = compiled(x).numpy()
        for method in METHODS:
            for model in (compiled, emitted):
                got = converted(method, model, x)(x).numpy()
                np.testing.assert_allclose(got, want, rtol=0, atol=1e-6, err_msg=method)
        traced = converted("trace", compiled, x)
        other = x.flip(0) * 0.5  # the trace is not specialized to its example's values
        np.testing.assert_allclose(traced(other).numpy(), compiled(other).numpy(), atol=1e-6)


def test_the_scripted_model_saves_and_loads(tmp_path):
    spec = SPECS_UNDER_TEST["tiny_resnet"]
    compiled = compiled_model(spec)
    x = example_batch(spec)
    torch.jit.script(compiled).save(str(tmp_path / "model.pt"))
    loaded = torch.jit.load(str(tmp_path / "model.pt"))
    with torch.no_grad():
        np.testing.assert_allclose(loaded(x).numpy(), compiled(x).numpy(), rtol=0, atol=1e-6)


def test_scripting_keeps_the_model_api():
    spec = SPECS_UNDER_TEST["red_wine"]
    compiled = compiled_model(spec)
    torch.jit.script(compiled)
    assert compiled.ir is spec.ir  # the property TorchScript leaves alone still works
    x = example_batch(spec).numpy()
    assert compiled.predict(x).shape == (4, 1)


def test_the_emitted_module_still_takes_numpy_batches(tmp_path):
    spec = SPECS_UNDER_TEST["tiny_resnet"]
    compiled = compiled_model(spec)
    emitted = emitted_model(spec, tmp_path, compiled.state_dict())
    x = example_batch(spec)
    out = emitted(x.numpy())
    assert isinstance(out, np.ndarray)
    np.testing.assert_array_equal(out, compiled(x).detach().numpy())


@pytest.mark.slow
def test_torch_compile_gives_the_eager_outputs(tmp_path):
    # Inductor compiles C++ on the CPU: tens of seconds per model, so one small spec.
    spec = stackspec.parse("input 5\nnormalize\ndense 8 relu\nresidual { dense 8 tanh }\ndense 3")
    compiled = compiled_model(spec)
    emitted = emitted_model(spec, tmp_path, compiled.state_dict())
    x = example_batch(spec)
    with torch.no_grad():
        want = compiled(x).numpy()
        for model in (compiled, emitted):
            got = torch.compile(model)(x).numpy()
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
