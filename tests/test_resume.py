"""Checkpoints and exact resume (LANGUAGE.md §12): a run killed in the middle of an epoch and
continued with `train --resume` ends with the same history.csv and weights.safetensors bytes as
a run that was never stopped, on the NumPy backend and on the torch backend (CPU)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import ROOT, needs_torch

import stackspec
from stackspec.cli import main
from stackspec.training.checkpoints import OPTIMIZER_META, checkpoints, latest, read_checkpoint
from stackspec.training.weights import encode, weight_file_bytes

SPEC = """input 6
dense 32 relu
dropout 0.3
batchnorm
dense 1
train {
  loss mse
  optimizer adam lr=0.003
  batch 8
  epochs %d
  metrics mae
  early_stop patience=50
  checkpoint every=1 keep=2
}
"""


@pytest.fixture
def project(tmp_path):
    """A spec and a generated CSV (800 rows: 70 batches an epoch, so a kill lands mid-epoch)."""
    rng = np.random.default_rng(7)
    X = rng.normal(size=(800, 6))
    y = X @ rng.normal(size=6) + 0.1 * rng.normal(size=800)
    rows = [",".join([*(f"{v:.6f}" for v in x), f"{t:.6f}"]) for x, t in zip(X, y, strict=True)]
    (tmp_path / "data.csv").write_text("a,b,c,d,e,f,y\n" + "\n".join(rows) + "\n")
    (tmp_path / "model.stack").write_text(SPEC % 10)
    return tmp_path


def command(folder, out, backend="numpy", *extra):
    args = ["train", "model.stack", "--data", "data.csv", "--target", "y", "--out", out]
    return [
        sys.executable,
        "-m",
        "stackspec",
        *args,
        "--backend",
        backend,
        "--device",
        "cpu",
        *extra,
    ]


# One thread: torch's default of one per core crawls on a loaded machine (its threads spin).
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def run(folder, argv):
    return subprocess.run(argv, cwd=folder, env=ENV, capture_output=True, text=True)


def resume(folder, out):
    return run(folder, [sys.executable, "-m", "stackspec", "train", "--resume", out])


def interrupted_run(folder, out, backend, sig):
    """Start a run, wait until its third checkpoint exists, send `sig`: the run is then in epoch
    4 or later, between checkpoints."""
    proc = subprocess.Popen(
        command(folder, out, backend), cwd=folder, env=ENV, stderr=subprocess.PIPE, text=True
    )
    third = folder / out / "checkpoints" / "epoch-0003"
    deadline = time.monotonic() + 120
    while not third.exists():
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline
        time.sleep(0.002)
    proc.send_signal(sig)
    proc.wait(60)
    return proc


TORCH = pytest.param("torch", marks=[pytest.mark.torch, needs_torch])


def same_run(folder, a, b):
    for name in ("history.csv", "weights.safetensors"):
        assert (folder / a / name).read_bytes() == (folder / b / name).read_bytes(), name


@pytest.mark.parametrize("backend", ["numpy", TORCH])
def test_sigkill_then_resume_is_bit_identical(project, backend):
    whole = run(project, command(project, "whole", backend))
    assert whole.returncode == 0, whole.stderr
    proc = interrupted_run(project, "killed", backend, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    record = json.loads((project / "killed" / "run.json").read_text())
    assert record["status"] == "running"
    assert not (project / "killed" / "weights.safetensors").exists()  # killed before the end
    assert [p.name for p in checkpoints(project / "killed" / "checkpoints")][-1] >= "epoch-0003"
    again = resume(project, "killed")
    assert again.returncode == 0, again.stderr
    assert "resuming killed after epoch" in again.stderr
    same_run(project, "whole", "killed")
    assert json.loads((project / "killed" / "run.json").read_text())["status"] == "finished"
    assert len(checkpoints(project / "killed" / "checkpoints")) == 2  # keep=2


def test_ctrl_c_then_resume_is_bit_identical(project):
    whole = run(project, command(project, "whole"))
    proc = interrupted_run(project, "stopped", "numpy", signal.SIGINT)
    assert proc.returncode == 130, proc.stderr.read()
    record = json.loads((project / "stopped" / "run.json").read_text())
    assert record["status"] == "interrupted"
    again = resume(project, "stopped")
    assert again.returncode == 0, again.stderr
    assert whole.returncode == 0
    same_run(project, "whole", "stopped")


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_resume_refusals(project, monkeypatch):
    monkeypatch.chdir(project)
    (project / "model.stack").write_text(SPEC % 2)
    base = ["train", "model.stack", "--data", "data.csv", "--target", "y"]
    assert invoke(*base, "--out", "done").exit_code == 0
    result = invoke("train", "--resume", "done")
    assert result.exit_code == 1 and "nothing to resume" in result.output
    for extra in (
        ["model.stack"],
        ["--data", "data.csv"],
        ["--epochs", "3"],
        ["--backend", "torch"],
    ):
        result = invoke("train", *extra, "--resume", "done")
        assert result.exit_code == 2, result.output
    result = invoke("train", "--data", "data.csv")
    assert result.exit_code == 2 and "SPEC" in result.output
    result = invoke("train", "--resume", "nowhere")
    assert result.exit_code == 1 and "run.json" in result.output
    # a run that never finished, whose data changed since: refused, naming the file
    record = json.loads((project / "done" / "run.json").read_text())
    (project / "done" / "run.json").write_text(json.dumps({**record, "status": "running"}))
    with open(project / "data.csv", "a") as f:
        f.write("0,0,0,0,0,0,0\n")
    result = invoke("train", "--resume", "done")
    assert result.exit_code == 1 and "data.csv has changed" in result.output


def test_resume_without_checkpoint_restarts(project, monkeypatch):
    monkeypatch.chdir(project)
    (project / "model.stack").write_text((SPEC % 3).replace("  checkpoint every=1 keep=2\n", ""))
    assert invoke("train", "model.stack", "--data", "data.csv", "--target", "y").exit_code == 0
    first = (project / "runs" / "model" / "weights.safetensors").read_bytes()
    record_path = project / "runs" / "model" / "run.json"
    record = json.loads(record_path.read_text())
    record_path.write_text(json.dumps({**record, "status": "interrupted"}))
    result = invoke("train", "--resume", "runs/model")
    assert result.exit_code == 0, result.output
    assert "no checkpoint; training restarts from epoch 1" in result.output
    assert (project / "runs" / "model" / "weights.safetensors").read_bytes() == first


# --- the API: Checkpoint, resume_from, initial_epoch -----------------------------------------


@pytest.fixture
def one_thread(backend):
    """torch on one thread for the test (see ENV); as it was afterwards."""
    if backend != "torch":
        yield
        return
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _arrays():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(120, 6)).astype(np.float32)
    return X, (X @ rng.normal(size=6)).astype(np.float32)


@pytest.mark.parametrize(
    "optimizer, backend",
    [
        *((o, "numpy") for o in ("adam", "sgd lr=0.01 momentum=0.9", "rmsprop", "adamw")),
        *(pytest.param(o, "torch", marks=TORCH.marks) for o in ("adamw", "sgd momentum=0.9")),
        pytest.param("rmsprop", "torch", marks=TORCH.marks),
    ],
)
def test_api_resume_matches_every_optimizer(tmp_path, optimizer, backend, one_thread):
    spec = stackspec.parse((SPEC % 7).replace("adam lr=0.003", optimizer).replace("=50", "=2"))
    X, y = _arrays()
    model = spec.compile(backend)
    saver = stackspec.Checkpoint(tmp_path, keep=10)
    history = model.fit(X, y, validation_split=0.25, verbose=0, callbacks=[saver])
    assert [p.name for p in saver.written] == [f"epoch-{e:04d}" for e in history.epoch]
    for epoch in (1, 3, history.epoch[-1]):
        again = spec.compile(backend)
        resumed = again.fit(
            X, y, validation_split=0.25, verbose=0, resume_from=tmp_path / f"epoch-{epoch:04d}"
        )
        assert resumed.to_csv() == history.to_csv()
        assert resumed.stop_reason == history.stop_reason
        assert resumed.best_epoch == history.best_epoch
        final, got = model.get_weights(), again.get_weights()
        assert all(np.array_equal(final[k], got[k]) for k in final)


def test_checkpoint_folder_rules(tmp_path):
    spec = stackspec.parse(SPEC % 5)
    X, y = _arrays()
    model = spec.compile("numpy")
    model.fit(X, y, verbose=0, callbacks=[stackspec.Checkpoint(tmp_path, keep=2)])
    assert sorted(os.listdir(tmp_path)) == ["epoch-0004", "epoch-0005"]  # no temp folder left
    assert latest(tmp_path).name == "epoch-0005"
    files = set(os.listdir(tmp_path / "epoch-0005")) - {"best.safetensors"}  # if not the best
    assert files == {"optimizer.safetensors", "state.json", "weights.safetensors"}
    state = read_checkpoint(tmp_path / "epoch-0004", spec.ir)
    assert state["epoch"] == 4 and len(state["history"]["epoch"]) == 4
    # the checkpoint's weights are a weight file: another model loads them
    stackspec.parse(SPEC % 5).compile("numpy").load(tmp_path / "epoch-0005" / "weights.safetensors")
    other = stackspec.parse(SPEC.replace("dense 32", "dense 16") % 5)
    with pytest.raises(ValueError, match="another model"):
        other.compile("numpy").fit(X, y, verbose=0, resume_from=tmp_path)
    with pytest.raises(ValueError, match="every must be"):
        stackspec.Checkpoint(tmp_path, every=0)


def test_initial_epoch_counts_up_to_epochs():
    spec = stackspec.parse(SPEC % 5)
    X, y = _arrays()
    history = spec.compile("numpy").fit(X, y, verbose=0, initial_epoch=3)
    assert history.epoch == [4, 5]
    assert spec.compile("numpy").fit(X, y, verbose=0, initial_epoch=5).epoch == []
    with pytest.raises(ValueError, match="initial_epoch"):
        spec.compile("numpy").fit(X, y, verbose=0, initial_epoch=-1)


def test_best_weights_survive_a_resume(tmp_path):
    """restore_best after a resume restores the best epoch's weights, saved in best.safetensors
    when they are not the checkpoint's own."""
    text = (SPEC % 12).replace("patience=50", "patience=3").replace("lr=0.003", "lr=0.3")
    spec = stackspec.parse(text)
    X, y = _arrays()
    model = spec.compile("numpy")
    history = model.fit(
        X, y, validation_split=0.25, verbose=0, callbacks=[stackspec.Checkpoint(tmp_path, keep=20)]
    )
    with_best = [p for p in checkpoints(tmp_path) if (p / "best.safetensors").exists()]
    assert with_best, "the test needs an epoch that is not the best"
    again = spec.compile("numpy")
    resumed = again.fit(X, y, validation_split=0.25, verbose=0, resume_from=with_best[0])
    assert resumed.to_csv() == history.to_csv() and resumed.restored_best
    final, got = model.get_weights(), again.get_weights()
    assert all(np.array_equal(final[k], got[k]) for k in final)


@pytest.mark.parametrize("backend", ["numpy", TORCH])
def test_checkpoint_files_are_the_encoded_bytes(tmp_path, backend):
    """The last checkpoint's files, written through images, are byte for byte the weight file
    and the optimizer file that encode() makes of the state after training."""
    X, y = _arrays()
    spec = stackspec.parse(SPEC % 3)
    model = spec.compile(backend)
    saver = stackspec.Checkpoint(tmp_path, keep=1)
    model.fit(X, y, verbose=0, callbacks=[saver])
    last = saver.written[-1]
    assert sorted(os.listdir(tmp_path)) == ["epoch-0003"]
    got = (last / "weights.safetensors").read_bytes()
    assert got == weight_file_bytes(spec.ir, model.get_weights())
    tensors, _ = model._optimizer_state()
    assert (last / "optimizer.safetensors").read_bytes() == encode(tensors, OPTIMIZER_META)
