"""Mixed precision and torch.compile on the torch backend (issue 11; docs/scaling.md "Mixed
precision and compilation"): bf16 trains close to float32, weights and history stay float32,
float16's GradScaler state survives a checkpoint resume exactly, the NumPy backend refuses both
options, and --compile either trains with the weight file's own keys or is refused in words."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import ROOT

import stackspec
from stackspec.cli import main

torch = pytest.importorskip("torch")
# torch's own inductor, imported by torch.compile, imports torch.utils.mkldnn, whose
# torch.jit.script_method decorators warn that torch.jit is deprecated (torch 2.13).
pytestmark = [pytest.mark.torch, pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")]

SPEC = """input 6
dense 32 relu
batchnorm
dense 1
train {
  loss mse
  optimizer adam lr=0.003
  batch 16
  epochs %d
}
"""


@pytest.fixture(autouse=True)
def one_thread():
    """torch on one thread (its default of one per core crawls on a loaded machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def arrays(n=160):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(n, 6)).astype(np.float32)
    return X, (X @ rng.normal(size=6)).astype(np.float32)


def trained(precision, epochs=6, **fit):
    model = stackspec.parse(SPEC % epochs).compile("torch", device="cpu")
    history = model.fit(*arrays(), validation_split=0.25, verbose=0, precision=precision, **fit)
    return model, history


def test_bf16_trains_close_to_float32():
    # bfloat16 keeps 8 bits of mantissa (a relative rounding of 2^-9 per product): over 48 steps
    # of this model the epoch losses stayed within 0.4 % of float32's and each tensor within
    # 3 % (relative norm) when measured; the bounds leave room for another CPU's kernels.
    want_model, want = trained("32")
    model, got = trained("bf16")
    assert got.epoch == want.epoch and got.stop_reason == "completed"
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(got[key], want[key], rtol=0.02)
    w, w32 = model.get_weights(), want_model.get_weights()
    for key in w:
        gap = np.linalg.norm(w[key] - w32[key]) / max(np.linalg.norm(w32[key]), 1e-6)
        assert gap < 0.1, key
    # Master weights: the parameters, the returned weights and the history stay float32.
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert all(a.dtype == np.float32 for a in w.values())
    assert all(isinstance(v, float) for v in got["loss"] + got["val_loss"])


def test_bf16_weight_file_is_float32(tmp_path):
    from safetensors.numpy import load_file

    model, _ = trained("bf16", epochs=1)
    model.save(tmp_path / "w.safetensors")
    tensors = load_file(tmp_path / "w.safetensors")
    assert tensors.keys() == model.get_weights().keys()
    assert {a.dtype for a in tensors.values()} == {np.dtype(np.float32)}


def float16_refusal():
    """None when this torch autocasts float16 on the CPU (torch 2.13 does), else its message."""
    from stackspec.backends.torch.precision import check_precision
    from stackspec.training.fit_settings import SettingError

    try:
        check_precision("16", torch.device("cpu"))
    except SettingError as e:
        return str(e)
    return None


def test_float16_on_the_cpu_trains_with_a_grad_scaler_or_is_refused():
    refusal = float16_refusal()
    if refusal is not None:  # an older torch: refused in words, naming the device
        assert "float16" in refusal and "cpu" in refusal
        with pytest.raises(ValueError, match="float16"):
            trained("16", epochs=1)
        return
    model, history = trained("16")
    assert history.stop_reason == "completed"
    assert all(np.isfinite(history["loss"])) and history["loss"][-1] < history["loss"][0]
    # torch's GradScaler starts at 2^16, which overflows float16 gradients: it halves the scale
    # and skips those first steps, which the optimizer's step count leaves out.
    scale = model._scaler.get_scale()
    assert scale < 2.0**16
    skipped = round(np.log2(2.0**16 / scale))
    assert model._steps == 6 * 8 - skipped
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_grad_scaler_state_round_trips_through_a_checkpoint(tmp_path):
    if float16_refusal() is not None:
        pytest.skip("this torch cannot autocast float16 on the CPU: " + float16_refusal())
    saver = stackspec.Checkpoint(tmp_path, keep=10)
    model, history = trained("16", callbacks=[saver])
    state = json.loads((tmp_path / "epoch-0002" / "state.json").read_text())
    scaler = state["optimizer"]["grad_scaler"]
    assert scaler["scale"] < 2.0**16 and scaler["growth_tracker"] > 0
    again = stackspec.parse(SPEC % 6).compile("torch", device="cpu")
    resumed = again.fit(
        *arrays(),
        validation_split=0.25,
        verbose=0,
        precision="16",
        resume_from=tmp_path / "epoch-0002",
    )
    assert resumed.to_csv() == history.to_csv()
    final, got = model.get_weights(), again.get_weights()
    assert all(np.array_equal(final[k], got[k]) for k in final)
    assert again._scaler.state_dict() == model._scaler.state_dict()
    assert again._steps == model._steps


def test_the_cli_offers_fits_precisions():
    from stackspec.training.fit_settings import PRECISIONS

    train = main.get_command(None, "train")  # a lazy command: imported when asked for
    option = next(p for p in train.params if p.name == "precision")
    assert tuple(option.type.choices) == PRECISIONS


def test_bad_settings_raise_value_errors():
    X, y = arrays()
    torch_model = stackspec.parse(SPEC % 1).compile("torch", device="cpu")
    with pytest.raises(ValueError, match="precision must be one of 32, bf16, 16, got '64'"):
        torch_model.fit(X, y, verbose=0, precision="64")
    with pytest.raises(ValueError, match="compile must be True or False"):
        torch_model.fit(X, y, verbose=0, compile="yes")
    numpy_model = stackspec.parse(SPEC % 1).compile("numpy")
    with pytest.raises(ValueError, match="precision bf16 needs the torch backend"):
        numpy_model.fit(X, y, verbose=0, precision="bf16")
    with pytest.raises(ValueError, match="compile needs the torch backend"):
        numpy_model.fit(X, y, verbose=0, compile=True)
    assert numpy_model.fit(X, y, verbose=0, precision=32).stop_reason == "completed"


@pytest.fixture
def project(tmp_path, monkeypatch):
    X, y = arrays()
    rows = [",".join(f"{v:.6f}" for v in (*x, t)) for x, t in zip(X, y, strict=True)]
    (tmp_path / "data.csv").write_text("a,b,c,d,e,f,y\n" + "\n".join(rows) + "\n")
    (tmp_path / "model.stack").write_text(SPEC % 2)
    monkeypatch.chdir(tmp_path)
    return tmp_path


TRAIN = ["train", "model.stack", "--data", "data.csv", "--target", "y", "--out", "run"]


@pytest.mark.parametrize("flag", [["--precision", "bf16"], ["--precision", "16"], ["--compile"]])
def test_numpy_backend_refuses_precision_and_compile(project, flag):
    result = CliRunner().invoke(main, [*TRAIN, *flag])
    assert result.exit_code == 1, result.output
    assert "needs the torch backend (--backend torch)" in result.output
    assert not (project / "run").exists()  # refused before the run folder


def test_cli_bf16_run_records_its_precision(project):
    result = CliRunner().invoke(
        main, [*TRAIN, "--backend", "torch", "--device", "cpu", "--precision", "bf16"]
    )
    assert result.exit_code == 0, result.output
    record = json.loads((project / "run" / "run.json").read_text())
    assert record["args"]["precision"] == "bf16" and record["args"]["compile"] is False


def test_resume_of_a_record_from_before_precision(project):
    from stackspec.cli_resume import resumed_options

    assert CliRunner().invoke(main, TRAIN).exit_code == 0
    path = project / "run" / "run.json"
    record = json.loads(path.read_text())
    for key in ("precision", "compile"):
        del record["args"][key]
    path.write_text(json.dumps({**record, "status": "interrupted"}))
    options = resumed_options("run")
    assert options["precision"] == "32" and options["compile"] is False


def test_compile_without_a_cpp_compiler_is_refused(project):
    # inductor reads $CXX when it is imported: a fresh process sees this one.
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CXX": "/nonexistent/c++"}
    argv = [sys.executable, "-m", "stackspec", *TRAIN, "--backend", "torch", "--compile"]
    result = subprocess.run(argv, cwd=project, env=env, capture_output=True, text=True)
    assert result.returncode == 1, result.stderr
    assert "--compile on the CPU needs a C++ compiler" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (project / "run").exists()


@pytest.mark.slow
def test_compile_trains_like_eager_and_keeps_the_weight_keys(project):
    # Inductor compiles C++ on the CPU: tens of seconds on a loaded 2-core machine.
    from stackspec.backends.torch.precision import check_compile
    from stackspec.training.fit_settings import SettingError

    try:
        check_compile(torch.device("cpu"))
    except SettingError as e:
        pytest.skip(str(e))
    eager = CliRunner().invoke(main, [*TRAIN[:-1], "eager", "--backend", "torch"])
    compiled = CliRunner().invoke(main, [*TRAIN, "--backend", "torch", "--compile"])
    assert eager.exit_code == 0 and compiled.exit_code == 0, compiled.output
    from safetensors.numpy import load_file

    want, got = load_file("eager/weights.safetensors"), load_file("run/weights.safetensors")
    assert list(got) == list(want)  # no `_orig_mod.` prefixes
    for key in want:  # inductor fuses and reorders float32 sums: close, not bit-equal
        np.testing.assert_allclose(got[key], want[key], rtol=1e-4, atol=1e-5)
