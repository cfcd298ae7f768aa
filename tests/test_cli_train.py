"""`stackspec train / evaluate / predict`: outputs, exit codes, failures that change nothing."""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import DATA, ROOT, SPECS, needs_torch

from stackspec.cli import main

TINY = """# a tiny regression model
let width = 8
input 11
dense width relu
batchnorm
dense 1
train {
  loss mae
  batch 128
  epochs 2
  metrics mae
}
"""
CLASSES = """input 11
dense 8 relu
dense 10
train {
  loss crossentropy
  batch 128
  epochs 1
  metrics accuracy
}
"""
FILES = {"weights.safetensors", "history.csv", "curves.png", "spec.stack", "run.json"}


def run(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def train(spec, out, *extra):
    return run("train", spec, "--data", DATA, "--target", "quality", "--out", out, *extra)


def snapshot(folder):
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.iterdir()}


@pytest.fixture
def tiny(write_spec):
    return write_spec(TINY, "tiny.stack")


@pytest.fixture
def trained(tiny, tmp_path):
    out = tmp_path / "run"
    r = train(tiny, out)
    assert r.exit_code == 0, r.output
    return out


def test_train_writes_every_output(trained, tiny):
    assert {p.name for p in trained.iterdir()} == FILES
    rows = list(csv.reader(io.StringIO((trained / "history.csv").read_text())))
    assert rows[0] == ["epoch", "loss", "val_loss", "mae", "val_mae"]
    assert [r[0] for r in rows[1:]] == ["1", "2"]
    assert all(np.isfinite(float(v)) for r in rows[1:] for v in r)
    assert (trained / "spec.stack").read_text() == tiny.read_text()
    assert (trained / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in trained.parent.iterdir() if p.name.startswith(".")]  # no temp dirs


def test_default_out_dir_is_runs_spec_stem(tiny, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = run("train", tiny, "--data", DATA, "--target", "quality", "--epochs", "1")
    assert r.exit_code == 0, r.output
    assert {p.name for p in (tmp_path / "runs" / "tiny").iterdir()} == FILES


def test_progress_and_summary_on_stderr(tiny, tmp_path):
    r = train(tiny, tmp_path / "o")
    assert "epoch 1/2" in r.stderr and "epoch 2/2" in r.stderr
    assert "best val_loss" in r.stderr and "wrote" in r.stdout


def test_same_seed_same_history_bit_for_bit(tiny, tmp_path):
    for name, seed in (("a", "5"), ("b", "5"), ("c", "6")):
        assert train(tiny, tmp_path / name, "--seed", seed).exit_code == 0
    a, b, c = ((tmp_path / n / "history.csv").read_text() for n in "abc")
    assert a == b and a != c
    from safetensors.numpy import load_file

    wa, wb = (load_file(str(tmp_path / n / "weights.safetensors")) for n in "ab")
    assert all(np.array_equal(wa[k], wb[k]) for k in wa)
    # and the same bytes: the header once varied with a hash map's order (issue 7)
    ba, bb = ((tmp_path / n / "weights.safetensors").read_bytes() for n in "ab")
    assert ba == bb


def test_overrides_and_validation_options(tiny, tmp_path, write_spec):
    r = train(tiny, tmp_path / "o", "--epochs", "3", "--batch", "1000", "--valid-split", "0")
    assert r.exit_code == 0, r.output
    rows = (tmp_path / "o" / "history.csv").read_text().splitlines()
    assert rows[0] == "epoch,loss,mae" and len(rows) == 4
    valid = tmp_path / "valid.csv"
    valid.write_text("\n".join(DATA.read_text().splitlines()[:50]) + "\n")
    r = train(tiny, tmp_path / "v", "--valid", valid, "--set", "width=4")
    assert r.exit_code == 0, r.output
    assert "val_loss" in (tmp_path / "v" / "history.csv").read_text()
    copy = (tmp_path / "v" / "spec.stack").read_text()
    assert copy.startswith("# trained with: --set width=4\n") and copy.endswith(TINY)


@pytest.mark.parametrize(
    "extra",
    [["--valid", "x.csv", "--valid-split", "0.2"], ["--device", "cuda"], ["--epochs", "0"]],
)
def test_usage_errors_exit_2(tiny, tmp_path, extra):
    assert train(tiny, tmp_path / "o", *extra).exit_code == 2


def test_failed_runs_leave_an_existing_out_dir_exactly_as_it_was(trained, tiny, tmp_path):
    before = snapshot(trained)
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text(DATA.read_text().replace("7.4,0.7,0.0", "7.4,,0.0", 1))
    bad_spec = tmp_path / "bad.stack"
    bad_spec.write_text("input 11\ndense1 4\n")
    runs = [
        train(tiny, trained, "--target", "qualty"),
        run("train", tiny, "--data", bad_csv, "--target", "quality", "--out", trained),
        train(bad_spec, trained),
        train(tiny, trained, "--valid", tmp_path / "missing.csv"),
    ]
    for r in runs:
        assert r.exit_code == 1, r.output
        assert "Traceback" not in r.output
    assert snapshot(trained) == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    assert "bad.csv:2:2: error[E506]: empty cell at row 2, column 2 ('volatile acidity')" in (
        runs[1].stderr
    )
    assert "did you mean 'quality'" in runs[0].stderr


def test_impossible_setting_is_an_error_not_a_bug(tiny, tmp_path):
    r = train(tiny, tmp_path / "o", "--batch", "1")
    assert r.exit_code == 1 and "batch 1 cannot train" in r.stderr
    assert not (tmp_path / "o").exists()


def test_out_that_is_a_file_is_refused_before_training(tiny, tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    r = train(tiny, f)
    assert r.exit_code == 1 and "epoch" not in r.stderr
    assert f"error: cannot write {f}: Not a directory" in r.stderr


def test_nan_loss_stops_names_epoch_and_batch_and_keeps_finite_weights(write_spec, tmp_path):
    spec = write_spec(TINY.replace("loss mae", "loss mse\n  optimizer sgd lr=1e30"), "nan.stack")
    out = tmp_path / "o"
    r = train(spec, out, "--epochs", "5")
    assert r.exit_code == 1
    assert "training failed" in r.stderr and "epoch 1, batch 2" in r.stderr
    from safetensors.numpy import load_file

    weights = load_file(str(out / "weights.safetensors"))
    assert all(np.isfinite(w).all() for w in weights.values())
    assert (out / "history.csv").read_text().startswith("epoch,loss,val_loss")


def test_evaluate_prints_loss_and_metrics(trained, tiny):
    r = run(
        "evaluate", tiny, "--weights", trained / "weights.safetensors", "--data", DATA,
        "--target", "quality",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["loss", "mae"]
    assert float(lines[0].split()[1]) == float(lines[1].split()[1])  # mae loss == mae metric


def test_predict_csv_regression_ignores_a_target_column(trained, tiny, tmp_path):
    weights = trained / "weights.safetensors"
    r = run("predict", tiny, "--weights", weights, "--data", DATA, "--target", "quality")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0] == "prediction" and len(lines) == 1600
    features_only = tmp_path / "x.csv"
    features_only.write_text(
        "\n".join(line.rsplit(",", 1)[0] for line in DATA.read_text().splitlines()) + "\n"
    )
    out = tmp_path / "p.csv"
    r2 = run("predict", tiny, "--weights", weights, "--data", features_only, "-o", out)
    assert r2.exit_code == 0, r2.output
    assert out.read_text() == r.stdout
    r3 = run("predict", tiny, "--weights", weights, "--data", DATA)
    assert r3.exit_code == 1 and "--target" in r3.stderr


def test_predict_csv_crossentropy_has_probabilities_and_label(write_spec, tmp_path):
    spec = write_spec(CLASSES, "cls.stack")
    assert train(spec, tmp_path / "o").exit_code == 0
    r = run(
        "predict", spec, "--weights", tmp_path / "o" / "weights.safetensors", "--data", DATA,
        "--target", "quality",
    )  # fmt: skip
    rows = list(csv.reader(io.StringIO(r.stdout)))
    assert rows[0] == [f"prediction_{i}" for i in range(10)] + ["label"]
    p = np.array([[float(v) for v in row[:-1]] for row in rows[1:]])
    assert np.allclose(p.sum(1), 1, atol=1e-6)
    assert [int(row[-1]) for row in rows[1:]] == p.argmax(1).tolist()


def test_weights_of_another_spec_are_rejected_naming_the_first_mismatch(trained, tiny):
    r = run(
        "evaluate", tiny, "--set", "width=16", "--weights", trained / "weights.safetensors",
        "--data", DATA, "--target", "quality",
    )  # fmt: skip
    assert r.exit_code == 1
    assert "error[E604]: tensor '0.weight' has shape (8, 11), the spec expects (16, 11)" in (
        r.stderr
    )


def test_real_red_wine_spec_two_epochs(tmp_path):
    r = train(SPECS / "red_wine.stack", tmp_path / "rw", "--epochs", "2")
    assert r.exit_code == 0, r.output
    assert len((tmp_path / "rw" / "history.csv").read_text().splitlines()) == 3


@needs_torch
def test_torch_backend_trains_through_the_same_cli(tiny, tmp_path):
    r = train(tiny, tmp_path / "t", "--backend", "torch", "--device", "cpu", "--epochs", "1")
    assert r.exit_code == 0, r.output
    assert {p.name for p in (tmp_path / "t").iterdir()} == FILES


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_saves_what_was_done_and_exits_130(write_spec, tmp_path, sig):
    spec = write_spec(TINY.replace("epochs 2", "epochs 100000"), "long.stack")
    out = tmp_path / "o"
    cmd = [sys.executable, "-m", "stackspec", "train", str(spec), "--data", str(DATA)]
    cmd += ["--target", "quality", "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True)
    try:
        line = ""
        deadline = time.monotonic() + 60
        while "epoch 2/" not in line and time.monotonic() < deadline:
            line = proc.stderr.readline()
            assert line or proc.poll() is None, "the run ended early"
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    assert f"interrupted ({sig.name})" in stderr and "wrote" in stdout
    assert {p.name for p in out.iterdir()} == FILES
    assert len((out / "history.csv").read_text().splitlines()) >= 2
