"""`stackspec compile --emit python`: standalone source that gives the compiled model's outputs.

The emitted modules run in a fresh `python -I -S` where stackspec cannot be imported: -S skips
site-packages' .pth files (the editable install's import hook lives there), and only the folders
holding numpy, safetensors and torch are put back on sys.path.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import (
    FLAT,
    HAS_TORCH,
    SPECS,
    deepest,
    every_layer_specs,
    example_inputs,
    varied_weights,
)

import stackspec
from stackspec.backends import emit_python
from stackspec.backends.numpy.layers import INFERENCE
from stackspec.backends.torch import layers as torch_layers
from stackspec.layers import LAYERS, STRUCTURAL
from stackspec.limits import DEPTH_CEILING, Limits
from stackspec.numerics import sigmoid_values, softmax_values

BACKENDS = [
    "numpy",
    pytest.param("torch", marks=pytest.mark.skipif(not HAS_TORCH, reason="no torch")),
]
SPEC_FILES = sorted(SPECS.glob("*.stack"))


RUNNER = """
import importlib.util, json, sys
sys.path += {paths!r}
try:
    import stackspec
except ImportError:
    pass
else:
    sys.exit("stackspec is importable here: " + stackspec.__file__)
import numpy as np
for job in json.loads({jobs!r}):
    spec = importlib.util.spec_from_file_location("emitted", job["source"])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.load(job["weights"])
    np.save(job["out"], np.asarray(model(np.load(job["x"]))))
leaked = sorted(m for m in sys.modules if m.split(".")[0] == "stackspec")
sys.exit("imported " + ", ".join(leaked) if leaked else 0)
"""


def package_paths() -> list[str]:
    import numpy
    import safetensors

    modules = [numpy, safetensors]
    if HAS_TORCH:
        import torch

        modules.append(torch)
    return sorted({str(Path(m.__file__).resolve().parents[1]) for m in modules})


def small(path: Path) -> stackspec.Spec:
    text = path.read_text()
    overrides = {"width": "16"} if re.search(r"^let width\b", text, re.M) else None
    return stackspec.parse(text, str(path), overrides)


def run_isolated(jobs: list[dict], tmp_path: Path) -> None:
    run_script(RUNNER.format(paths=package_paths(), jobs=json.dumps(jobs)), tmp_path)


def run_script(text: str, tmp_path: Path) -> None:
    """Run `text` in `python -I -S` (no stackspec importable) in tmp_path; it must succeed."""
    runner = tmp_path / "runner.py"
    runner.write_text(text)
    done = subprocess.run(
        [sys.executable, "-I", "-S", str(runner)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("backend", BACKENDS)
def test_emitted_source_gives_the_compiled_models_outputs(backend, tmp_path):
    specs = {p.stem: small(p) for p in SPEC_FILES}
    for i, text in enumerate(every_layer_specs().values()):  # every registry example
        specs[f"layer{i}"] = stackspec.parse(text, f"layer{i}.stack")
    specs["flat"] = stackspec.parse(FLAT, "flat.stack")
    specs["deepest"] = stackspec.parse(deepest(), limits=Limits(depth=DEPTH_CEILING))
    jobs, expected = [], {}
    for name, spec in specs.items():
        options = {"device": "cpu"} if backend == "torch" else {}
        model = spec.compile(backend, **options)
        model.set_weights(varied_weights(spec))
        x = example_inputs(spec.ir, 5, 1, 1.5)
        out = model._predict_batch(x)  # what the loss reads: logits when an activation is fused
        fused = {"softmax": softmax_values, "sigmoid": sigmoid_values}.get(
            spec.ir.fused_activation()
        )
        expected[name] = fused(out) if fused else out  # the emitted model(x) ends in it
        files = {k: tmp_path / f"{name}{suffix}" for k, suffix in FILE_SUFFIXES.items()}
        files["source"].write_text(emit_python(spec, backend))
        model.save(files["weights"])
        np.save(files["x"], x)
        jobs.append({k: str(v) for k, v in files.items()})
    run_isolated(jobs, tmp_path)
    for name, want in expected.items():
        got = np.load(tmp_path / f"{name}.out.npy")
        scale = np.abs(want).max()
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * scale, err_msg=name)


FILE_SUFFIXES = {"source": ".py", "weights": ".safetensors", "x": ".x.npy", "out": ".out.npy"}


@pytest.mark.parametrize("backend", BACKENDS)
def test_emitted_source_imports_only_numpy_safetensors_and_torch(backend):
    allowed = {"numpy", "safetensors"} | ({"torch"} if backend == "torch" else set())
    texts = [*every_layer_specs().values(), FLAT, *(p.read_text() for p in SPEC_FILES)]
    for text in texts:
        tree = ast.parse(emit_python(stackspec.parse(text), backend))
        imported = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                imported.add(node.module.split(".")[0])
        assert imported <= allowed, imported


def test_every_layer_kind_has_source_and_an_unknown_one_is_an_error():
    # Both emitters print what the backends build, so a kind is emitted once they have it.
    assert set(LAYERS) <= set(INFERENCE)
    assert set(LAYERS) | set(STRUCTURAL) <= set(torch_layers.LAYER_FUNCTIONS)
    ops = {
        n.op for t in (*every_layer_specs().values(), FLAT) for n in stackspec.parse(t).ir.walk()
    }
    assert ops == set(LAYERS) | set(STRUCTURAL)
    # A kind that a backend lacks stops the emitter: no silent fallback.
    ir = stackspec.parse("input 3\ndense 2").ir
    unknown = dataclasses.replace(ir, nodes=(dataclasses.replace(ir.nodes[0], op="no_such_layer"),))
    for backend in ("numpy", "torch"):
        with pytest.raises(NotImplementedError, match="no_such_layer"):
            emit_python(SimpleNamespace(ir=unknown, file=None), backend)


# NumPy source copies the backend's evaluation functions and what they read: a module of
# deliberately bad ones, each of which the copy must refuse, naming it and what it reaches for.
COPIED = """
import math
import os

import numpy as np

LIMIT = 2.0
SCALE = LIMIT * 3


def helper(x):
    return np.minimum(x, SCALE)


def good_values(x, k=1):
    tail = [abs(v) for v in range(k)]

    def inner(z):
        return helper(z) + len(tail)

    return inner(x)


def bad_values(x):
    return x * math.pi


def importing_values(x):
    import os

    return x


def indirect_values(x):
    return good_values(x) + reaches_os(x)


def reaches_os(x):
    return os.getcwd()


def calls_eval_values(x):
    return eval("x")


def Model(x):
    return x
"""


@pytest.fixture
def copied_module(tmp_path, monkeypatch):
    import importlib.util

    (tmp_path / "copied_mod.py").write_text(COPIED)
    spec = importlib.util.spec_from_file_location("copied_mod", tmp_path / "copied_mod.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "copied_mod", module)
    spec.loader.exec_module(module)
    return module


def test_copied_source_brings_what_a_function_reads(copied_module):
    from stackspec.backends.numpy.source import copied_source

    source = copied_source([copied_module.good_values])
    assert source.startswith("LIMIT = 2.0\nSCALE = LIMIT * 3\n\n\ndef helper(x):")
    assert "def good_values(" in source and "math" not in source and "import" not in source
    namespace = {"np": np}
    exec(source, namespace)
    assert namespace["good_values"](5.0, k=2) == 7.0  # min(5, 6) + 2


@pytest.mark.parametrize(
    "function,message",
    [
        ("bad_values", r"bad_values \(copied_mod\) reads 'math'"),
        ("importing_values", r"importing_values \(copied_mod\) imports"),
        ("indirect_values", r"reaches_os \(copied_mod\) reads 'os'"),
        ("calls_eval_values", r"calls_eval_values \(copied_mod\) reads 'eval'"),
        ("Model", r"Model \(copied_mod\) redefines the emitted module's 'Model'"),
    ],
)
def test_copied_source_refuses_what_the_emitted_module_cannot_hold(
    copied_module, function, message
):
    from stackspec.backends.numpy.source import CopyError, copied_source

    with pytest.raises(CopyError, match=message):
        copied_source([getattr(copied_module, function)])


def exec_source(source: str) -> dict:
    namespace: dict = {"__name__": "emitted"}
    exec(compile(source, "<emitted>", "exec"), namespace)
    return namespace


@pytest.mark.parametrize("backend", BACKENDS)
def test_load_rejects_mismatching_files_naming_the_tensor(backend, tmp_path):
    from safetensors.numpy import save_file

    spec = stackspec.parse("input 3\ndense 4 relu\nbatchnorm\ndense 1")
    module = exec_source(emit_python(spec, backend))
    good = spec.compile("numpy").get_weights()
    cases = {
        "missing tensor '1.running_var'": {k: v for k, v in good.items() if k != "1.running_var"},
        r"tensor '0.weight' has shape \(3, 4\)": {**good, "0.weight": np.zeros((3, 4), np.float32)},
        "unexpected tensor '9.bias'": {**good, "9.bias": np.zeros(1, np.float32)},
    }
    for message, weights in cases.items():
        save_file(weights, tmp_path / "w.safetensors")
        with pytest.raises(ValueError, match=message):
            module["load"](str(tmp_path / "w.safetensors"))


def test_source_is_readable_and_deterministic():
    spec = stackspec.load(SPECS / "tiny_resnet.stack")
    source = emit_python(spec, "numpy")
    assert source == emit_python(spec, "numpy")
    assert "stackspec" not in re.sub(r"(#.*|\"\"\"[\s\S]*?\"\"\")", "", source)
    assert "# 1.1: batchnorm momentum=0.9 eps=1e-05" in source
    assert "def conv2d_values(" in source and "def dense_values(" in source
    assert "def gelu_values(" not in source
    assert max(len(line) for line in source.splitlines()) <= 120
    torch_source = emit_python(spec, "torch")
    assert "class Model(nn.Module)" in torch_source and "class Residual" in torch_source
    assert "nn.BatchNorm2d(16, eps=1e-05, momentum=0.09999999999999998" in torch_source


@pytest.mark.skipif(not HAS_TORCH, reason="no torch")
def test_torch_source_model_is_a_module_in_eval_mode(tmp_path):
    import torch

    spec = stackspec.parse("input 3\ndense 4 relu\ndropout 0.5\nbatchnorm\ndense 2")
    module = exec_source(emit_python(spec, "torch"))
    compiled = spec.compile("torch", device="cpu")
    compiled.save(tmp_path / "w.safetensors")
    model = module["load"](str(tmp_path / "w.safetensors"))
    assert isinstance(model, torch.nn.Module) and not model.training
    x = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    out = model(torch.from_numpy(x))
    assert isinstance(out, torch.Tensor)
    np.testing.assert_allclose(out.detach().numpy(), compiled._predict_batch(x), rtol=1e-6)
    np.testing.assert_allclose(model(x), compiled._predict_batch(x), rtol=1e-6)


@pytest.mark.skipif(not HAS_TORCH, reason="no torch")
def test_the_compiled_state_dict_loads_into_the_emitted_module():
    # One module layout for both: residual bodies are flat in each, numbered alike.
    specs = [small(SPECS / "tiny_resnet.stack"), small(SPECS / "residual_mlp.stack")]
    for spec in [*specs, *(stackspec.parse(t) for t in every_layer_specs().values())]:
        compiled = spec.compile("torch", device="cpu")
        compiled.set_weights(varied_weights(spec))
        model = exec_source(emit_python(spec, "torch"))["Model"]()
        model.load_state_dict(compiled.state_dict())  # strict: the same keys and shapes
        x = example_inputs(spec.ir, 3, 2)
        np.testing.assert_allclose(model(x), compiled._predict_batch(x), rtol=1e-6, atol=1e-6)


def test_cli_writes_the_source(tmp_path):
    from click.testing import CliRunner

    from stackspec.cli import main

    out = tmp_path / "model.py"
    spec = SPECS / "residual_mlp.stack"
    result = CliRunner().invoke(
        main, ["compile", str(spec), "--backend", "numpy", "--emit", "python", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert out.read_text().rstrip("\n") == emit_python(stackspec.load(spec), "numpy").rstrip("\n")


# File names that would run `touch PWNED` if pasted into source, in a docstring or a string.
HOSTILE_NAMES = [
    'm"""+str(__import__("os").system("touch PWNED"))+""".stack',
    "m'''+str(__import__('os').system('touch PWNED'))+'''.stack",
    "m\nimport os; os.system('touch PWNED')\n.stack",
    "m\rimport os; os.system('touch PWNED')\u2028.stack",
    "m\\",
    "m\udcff\x00.stack",
]

IMPORTER = """
import importlib.util, sys
sys.path += {paths!r}
for i, name in enumerate({names!r}):
    spec = importlib.util.spec_from_file_location(f"m{{i}}", f"m{{i}}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.SPEC_FILE == name, (module.SPEC_FILE, name)
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_hostile_file_names_stay_strings_in_the_source(backend, tmp_path):
    names = []
    for i, path in enumerate(HOSTILE_NAMES):
        source = emit_python(stackspec.parse(FLAT, path), backend)
        (tmp_path / f"m{i}.py").write_text(source, encoding="utf-8", errors="surrogateescape")
        names.append(Path(path).name)
    run_script(IMPORTER.format(paths=package_paths(), names=names), tmp_path)
    assert not (tmp_path / "PWNED").exists()
