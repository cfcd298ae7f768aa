"""ONNX export (`compile --emit onnx`, docs/export.md): every registry example, the residual
constructs and every spec in specs/ exported, checked by `onnx.checker` (full_check) and run in
onnxruntime against the NumPy backend in evaluation mode, with trained-looking weights; the
file's inputs, outputs and metadata; the command line end to end; and the clear error without
the extra. Tests that need onnx or onnxruntime skip without them.

Tolerance as in test_parity.py: |a - b| <= 1e-5 * (|b| + max|b|).
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import DATA, SPECS, every_layer_specs, example_inputs, varied_weights

import stackspec
from stackspec.cli import main
from stackspec.layers import ACTIVATIONS

HAS_ONNX = all(importlib.util.find_spec(m) for m in ("onnx", "onnxruntime"))
needs_onnx = pytest.mark.skipif(not HAS_ONNX, reason="onnx and onnxruntime are not installed")

SPEC_FILES = sorted(SPECS.glob("*.stack"))
LAYER_SPECS = every_layer_specs()


def small(path) -> stackspec.Spec:
    """The spec file with its `let width` (if any) at 16."""
    text = path.read_text()
    overrides = {"width": "16"} if re.search(r"^let width\b", text, re.M) else None
    return stackspec.parse(text, str(path), overrides)


def close(actual, expected, rel=1e-5, what=""):
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, what
    scale = np.abs(expected).max(initial=0.0)
    np.testing.assert_allclose(actual, expected, rtol=rel, atol=rel * scale, err_msg=what)


def session(model_bytes: bytes):
    import onnxruntime as ort

    return ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])


def run_onnx(model_bytes: bytes, x: np.ndarray) -> np.ndarray:
    return session(model_bytes).run(["output"], {"input": x})[0]


def check_export(spec, x=None, seed=0):
    """Export with trained-looking weights; check the model; ONNX == the NumPy backend."""
    import onnx

    from stackspec.backends.onnx import onnx_model

    weights = varied_weights(spec, seed)
    np_model = spec.compile("numpy")
    np_model.set_weights(weights)
    model = onnx_model(spec.ir, weights)
    onnx.checker.check_model(model, full_check=True)
    if x is None:
        x = example_inputs(spec.ir, 6, seed + 1, 1.5)
    expected, _ = np_model.forward(x, False)
    close(run_onnx(model.SerializeToString(), x), expected, what="onnx vs numpy")
    return model, np_model, x


# --- every layer kind and construct, every spec -----------------------------------------------


def test_every_registry_kind_has_an_onnx_function():
    # The layer functions never import onnx: this runs without the extra.
    from stackspec.backends.onnx.layers import FUNCTIONS
    from stackspec.layers import LAYERS, STRUCTURAL

    kinds = {*LAYERS, *STRUCTURAL}
    assert kinds <= set(FUNCTIONS), f"no ONNX function: {kinds - set(FUNCTIONS)}"
    assert all(FUNCTIONS[k].__name__ == k for k in kinds)


@needs_onnx
def test_an_unknown_kind_is_an_error_not_a_silent_fallback():
    import dataclasses

    from stackspec.backends.onnx import onnx_model

    ir = stackspec.parse("input 3\ndense 2").ir
    unknown = dataclasses.replace(ir, nodes=(dataclasses.replace(ir.nodes[0], op="no_such"),))
    with pytest.raises(NotImplementedError, match="no_such"):
        onnx_model(unknown, {k: np.zeros(w.shape) for k, w in ir.tensors().items()})


def test_selu_constants_are_the_numpy_backends():
    from stackspec.backends.numpy import activations as numpy_activations
    from stackspec.backends.onnx import activations

    assert activations.SELU_ALPHA == numpy_activations.SELU_ALPHA
    assert activations.SELU_SCALE == numpy_activations.SELU_SCALE


@needs_onnx
@pytest.mark.parametrize("name", sorted(LAYER_SPECS))
def test_every_layer_example(name):
    check_export(stackspec.parse(LAYER_SPECS[name]))


@needs_onnx
@pytest.mark.parametrize("path", SPEC_FILES, ids=[p.stem for p in SPEC_FILES])
def test_every_spec(path):
    spec = small(path)
    _, np_model, x = check_export(spec)
    if spec.ir.fused_activation():  # ends in softmax/sigmoid: the output is predict's
        model = check_export(spec)[0]
        close(run_onnx(model.SerializeToString(), x), np_model.predict(x), what="predict")


@needs_onnx
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_an_activation_on_large_inputs(activation):
    spec = stackspec.parse(f"input 8\n{activation}\ndense 3 {activation}")
    x = np.array([[-90, -30, -3, -1e-3, 0, 2, 25, 90]], np.float32)
    check_export(spec, x)


@needs_onnx
def test_normalizations_of_shifted_inputs():
    # A large common offset: a one-pass variance (E[x^2] - E[x]^2) would lose the digits.
    spec = stackspec.parse("input 2x3x8\nlayernorm\nrmsnorm\nbatchnorm\nflatten\nlayernorm")
    x = np.random.default_rng(3).normal(50, 0.5, (4, 2, 3, 8)).astype(np.float32)
    check_export(spec, x)


# --- the file: inputs, outputs, opset, metadata, weights ----------------------------------------


@needs_onnx
def test_inputs_outputs_opset_and_metadata():
    from stackspec.backends.onnx import IR_VERSION, OPSET, onnx_model
    from stackspec.version import __version__

    spec = stackspec.load(SPECS / "digits_cnn.stack")
    model = onnx_model(spec.ir, spec.compile("numpy").get_weights(), "digits_cnn.stack")
    (inp,), (out,) = model.graph.input, model.graph.output
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert (inp.name, dims) == ("input", ["N", 1, 8, 8])
    dims = [d.dim_param or d.dim_value for d in out.type.tensor_type.shape.dim]
    assert (out.name, dims) == ("output", ["N", 10])
    assert [(o.domain, o.version) for o in model.opset_import] == [("", OPSET)]
    assert model.ir_version == IR_VERSION
    props = {p.key: p.value for p in model.metadata_props}
    assert props["stackspec_version"] == __version__
    assert props["ir_hash"] == spec.ir.model_hash()
    assert props["spec"] == "digits_cnn.stack"
    # Every weight-file tensor is an initializer under its own key, in its §8 layout.
    inits = {t.name: tuple(t.dims) for t in model.graph.initializer}
    assert {k: tuple(w.shape) for k, w in spec.ir.tensors().items()}.items() <= inits.items()
    # The batch axis is dynamic.
    data = model.SerializeToString()
    for n in (1, 33):
        assert run_onnx(data, np.zeros((n, 1, 8, 8), np.float32)).shape == (n, 10)


@needs_onnx
def test_export_is_deterministic_and_names_point_at_the_spec():
    from stackspec.backends.onnx import onnx_bytes, onnx_model

    spec = stackspec.load(SPECS / "tiny_resnet.stack")
    weights = spec.compile("numpy").get_weights()
    assert onnx_bytes(spec.ir, weights) == onnx_bytes(spec.ir, weights)
    names = [n.name for n in onnx_model(spec.ir, weights).graph.node]
    assert "0/Conv" in names and "0/Relu" in names and "1.1/BatchNormalization" in names


# --- the command line ----------------------------------------------------------------------------


def cli(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


@needs_onnx
@pytest.mark.slow
def test_cli_exports_trained_weights(tmp_path):
    spec_path = SPECS / "red_wine_classes.stack"  # normalize, a data section, a final softmax
    run = tmp_path / "run"
    done = cli("train", spec_path, "--data", DATA, "--epochs", "2", "--out", run)
    assert done.exit_code == 0, done.output
    out = tmp_path / "model.onnx"
    done = cli("compile", spec_path, "--emit", "onnx", "--weights", run / "weights.safetensors")
    assert done.exit_code == 2 and "-o model.onnx" in done.stderr
    args = ("compile", spec_path, "--emit", "onnx", "--weights", run / "weights.safetensors")
    done = cli(*args, "-o", out)
    assert done.exit_code == 0, done.output
    model = stackspec.load(spec_path).compile("numpy").load(run / "weights.safetensors")
    raw = np.loadtxt(DATA, delimiter=",", skiprows=1, dtype=np.float32)[:50, :11]
    probabilities = run_onnx(out.read_bytes(), raw)
    close(probabilities, model.predict(raw))
    assert np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    # A trained normalize layer: its statistics are the data's, not the identity's.
    assert not np.allclose(model.get_weights()["0.mean"], 0)


@needs_onnx
def test_cli_initial_weights_and_a_pipe(tmp_path):
    spec_path = SPECS / "residual_mlp.stack"
    out = tmp_path / "m.onnx"
    assert cli("compile", spec_path, "--emit", "onnx", "-o", out).exit_code == 0
    spec = stackspec.load(spec_path)
    x = np.random.default_rng(0).normal(size=(4, 11)).astype(np.float32)
    close(run_onnx(out.read_bytes(), x), spec.compile("numpy").predict(x))  # the seed's weights
    piped = subprocess.run(
        [sys.executable, "-m", "stackspec", "compile", str(spec_path), "--emit", "onnx", "-o", "-"],
        capture_output=True,
        timeout=120,
    )
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout == out.read_bytes()


def test_cli_refusals(tmp_path, monkeypatch):
    spec_path = SPECS / "residual_mlp.stack"
    done = cli("compile", spec_path, "--emit", "ir", "--weights", spec_path)
    assert done.exit_code == 2 and "--emit onnx only" in done.stderr
    monkeypatch.setattr("stackspec.cli_onnx._is_terminal", lambda: True)
    done = cli("compile", spec_path, "--emit", "onnx", "-o", "-")
    assert done.exit_code == 2 and "terminal" in done.stderr


@needs_onnx
def test_cli_checks_the_weights_as_evaluate_does(tmp_path):
    other = tmp_path / "other.safetensors"
    stackspec.parse("input 11\ndense 3").compile("numpy").save(other)
    out = tmp_path / "m.onnx"
    args = ("compile", SPECS / "residual_mlp.stack", "--emit", "onnx", "--weights", other)
    done = cli(*args, "-o", out)
    assert done.exit_code == 1 and "error[E60" in done.stderr and "Traceback" not in done.output
    assert not out.exists()


BLOCK_ONNX = textwrap.dedent(
    """
    import sys

    class NoOnnx:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("onnx", "onnxruntime", "torch"):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, NoOnnx())
    """
)


def test_without_the_extra_a_clear_error(tmp_path):
    out = tmp_path / "m.onnx"
    argv = ["stackspec", "compile", str(SPECS / "red_wine.stack"), "--emit", "onnx"]
    argv += ["-o", str(out)]
    code = BLOCK_ONNX + f"sys.argv = {argv!r}\nfrom stackspec.cli import run\nrun()\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "pip install 'stackspec[onnx]'" in done.stderr and "Traceback" not in done.stderr
    assert not out.exists()


@needs_onnx
def test_export_needs_neither_torch_nor_the_numpy_backend(tmp_path):
    out = tmp_path / "m.onnx"
    argv = ["stackspec", "compile", str(SPECS / "tiny_resnet.stack"), "--emit", "onnx"]
    argv += ["-o", str(out)]
    code = textwrap.dedent(
        f"""
        import sys
        sys.argv = {argv!r}
        from stackspec.cli import main
        try:
            main()
        except SystemExit as e:
            assert not e.code, e.code
        numpy_backend = "stackspec.backends.numpy"
        loaded = [m for m in sys.modules if m == "torch" or m.startswith(numpy_backend)]
        assert not loaded, loaded
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert out.stat().st_size > 1000
