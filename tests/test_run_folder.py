"""Run folders (issue 10): the next free name, refusing an earlier run without --force, files
written while the run goes (history.csv after every epoch), run.json, --init, --tensorboard, and
the learning-curve panels."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import DATA

import stackspec
from stackspec.cli import main
from stackspec.training.callbacks import Callback, LiveHistory

SPEC = """let lr = 0.01
input 11
normalize
dense 8 relu
dense 1
train {
  loss mse
  optimizer sgd lr=lr
  batch 256
  epochs 2
  metrics mae
}
"""


def run(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def train(spec, *extra):
    return run("train", spec, "--data", DATA, "--target", "quality", *extra)


def snapshot(folder):
    return {
        str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None
        for p in sorted(folder.rglob("*"))
    }


def history(folder) -> list[list[str]]:
    return list(csv.reader(io.StringIO((folder / "history.csv").read_text())))


@pytest.fixture
def spec(write_spec):
    return write_spec(SPEC, "m.stack")


def test_the_default_folder_is_the_next_free_name(spec, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = train(spec)
    assert first.exit_code == 0, first.output
    assert "run folder: runs/m/" in first.stderr
    (tmp_path / "runs" / "m-3").write_text("not a run")  # taken, whatever it is
    second, third = train(spec), train(spec)
    assert "run folder: runs/m-2/" in second.stderr and "wrote runs/m-2/" in second.stdout
    assert "run folder: runs/m-4/" in third.stderr
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["m", "m-2", "m-3", "m-4"]
    assert (tmp_path / "runs" / "m" / "weights.safetensors").exists()


def test_an_earlier_run_is_refused_without_force(spec, tmp_path):
    out = tmp_path / "run"
    assert train(spec, "--out", out).exit_code == 0
    before = snapshot(out)
    ended = json.loads((out / "run.json").read_text())["ended"]
    r = train(spec, "--out", out, "--epochs", "1")
    assert r.exit_code == 1 and "epoch 1/" not in r.stderr
    assert r.stderr == (
        f"error: {out} holds an earlier run (finished {ended}); use --force to replace it or "
        "--out elsewhere\n"
    )
    assert snapshot(out) == before
    record = json.loads((out / "run.json").read_text())
    record["status"] = "running"  # a run killed outright
    (out / "run.json").write_text(json.dumps(record))
    r = train(spec, "--out", out)
    assert r.exit_code == 1
    assert f"holds an unfinished run (running, started {record['started']}); use --resume" in (
        r.stderr
    )


def test_force_replaces_the_earlier_run_and_keeps_other_files(spec, tmp_path):
    out = tmp_path / "run"
    assert train(spec, "--out", out).exit_code == 0
    (out / "checkpoints" / "epoch-0001").mkdir(parents=True)
    (out / "checkpoints" / "epoch-0001" / "weights.safetensors").write_text("old")
    (out / "notes.txt").write_text("mine")
    r = train(spec, "--out", out, "--force", "--epochs", "3")
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["weights.safetensors", "history.csv", "curves.png", "spec.stack", "run.json", "notes.txt"]
    )
    assert [row[0] for row in history(out)[1:]] == ["1", "2", "3"]
    assert json.loads((out / "run.json").read_text())["epochs"] == 3


def test_a_folder_without_a_run_is_written_into_as_before(spec, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "history.csv").write_text("old")
    (out / "other.txt").write_text("kept")
    assert train(spec, "--out", out).exit_code == 0
    assert history(out)[0][0] == "epoch" and (out / "other.txt").read_text() == "kept"


def test_run_json_says_what_made_the_run(spec, tmp_path):
    out = tmp_path / "run"
    r = train(spec, "--out", out, "--seed", "3", "--set", "lr=0.02", "--valid-split", "0.25")
    assert r.exit_code == 0, r.output
    record = json.loads((out / "run.json").read_text())
    sha = hashlib.sha256
    assert record["format"] == "stackspec-run" and record["version"] == 1
    assert record["status"] == "finished" and record["stop_reason"] == "completed"
    assert record["spec"] == {"path": str(spec), "sha256": sha(spec.read_bytes()).hexdigest()}
    data_sha = sha(DATA.read_bytes()).hexdigest()
    assert [(d["role"], d["path"], d["sha256"]) for d in record["data"]] == [
        ("train", str(DATA), data_sha),
        ("valid", str(DATA), data_sha),
    ]
    assert sum(d["rows"] for d in record["data"]) == 1599 and record["data"][1]["rows"] == 400
    assert record["target"] == "quality" and record["seed"] == 3
    assert record["overrides"] == ["lr=0.02"] and record["valid_split"] == 0.25
    assert (record["epochs"], record["batch"], record["backend"]) == (2, 256, "numpy")
    assert record["device"] == "cpu" and record["weight_column"] is None
    assert set(record["versions"]) == {"python", "numpy", "torch", "stackspec"}
    assert record["versions"]["numpy"] == np.__version__
    assert record["versions"]["stackspec"] == stackspec.__version__
    assert record["started"] <= record["ended"] and record["ended"].endswith("Z")
    rows = history(out)
    assert record["final"] == {k: float(v) for k, v in zip(rows[0][1:], rows[-1][1:], strict=True)}
    assert record["best_epoch"] in (1, 2) and record["epochs_done"] == 2
    from safetensors import safe_open

    with safe_open(str(out / "weights.safetensors"), "numpy") as f:
        assert record["ir_hash"] == f.metadata()["ir_hash"]
    args = record["args"]
    assert args["seed"] == 3 and args["sets"] == ["lr=0.02"] and args["epochs"] == 2
    assert set(args) >= {"spec", "data", "target", "valid", "valid_split", "batch", "backend"}


class ReadsTheFile(Callback):
    """After LiveHistory: what a reader of history.csv sees at the end of each epoch."""

    def __init__(self, path):
        self.path, self.seen = path, []

    def on_epoch_end(self, epoch, logs=None):
        self.seen.append(self.path.read_text())


def test_history_csv_grows_after_every_epoch_and_ends_as_to_csv(tmp_path):
    s = stackspec.parse(SPEC)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(300, 11)), rng.normal(size=300)
    model = s.compile("numpy", seed=0)
    reader = ReadsTheFile(tmp_path / "history.csv")
    callbacks = [LiveHistory(tmp_path), reader]
    h = model.fit(X, y, validation_split=0.2, epochs=3, verbose=0, callbacks=callbacks)
    assert [len(text.splitlines()) for text in reader.seen] == [2, 3, 4]
    assert reader.seen[-1] == h.to_csv() == (tmp_path / "history.csv").read_text()
    assert reader.seen[0] == h.to_csv().split("\n", 2)[0] + "\n" + h.to_csv().split("\n")[1] + "\n"


def test_init_starts_from_the_given_weights(spec, tmp_path):
    assert train(spec, "--out", tmp_path / "a").exit_code == 0
    weights = tmp_path / "a" / "weights.safetensors"
    # A learning rate too small to move anything: the first epoch's validation loss is that of
    # the given weights, the last of run a (same seed, so the same validation rows).
    tiny_lr = ("--set", "lr=1e-30", "--epochs", "1")
    r = train(spec, "--out", tmp_path / "b", "--init", weights, *tiny_lr)
    assert r.exit_code == 0, r.output
    a, b = history(tmp_path / "a"), history(tmp_path / "b")
    assert float(b[1][2]) == pytest.approx(float(a[-1][2]), rel=1e-6)
    fresh = train(spec, "--out", tmp_path / "c", *tiny_lr)
    assert fresh.exit_code == 0
    assert float(history(tmp_path / "c")[1][2]) != pytest.approx(float(b[1][2]), rel=1e-3)
    record = json.loads((tmp_path / "b" / "run.json").read_text())
    assert record["init"] == {
        "path": str(weights),
        "sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
    }


def test_init_keeps_the_normalize_statistics(spec, tmp_path):
    """fit(adapt=False), which --init uses: the loaded statistics, not the new data's."""
    s = stackspec.parse(SPEC)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(200, 11)), rng.normal(size=200)
    model = s.compile("numpy", seed=0)
    model.fit(X, y, epochs=1, verbose=0)
    stats = {k: v for k, v in model.get_weights().items() if k.startswith("0.")}
    model.fit(X + 5, y, epochs=1, verbose=0, adapt=False)
    assert all(np.array_equal(model.get_weights()[k], v) for k, v in stats.items())
    model.fit(X + 5, y, epochs=1, verbose=0)
    assert not np.array_equal(model.get_weights()["0.mean"], stats["0.mean"])


def test_init_with_a_file_of_another_spec_is_refused_before_anything(spec, tmp_path, write_spec):
    other = write_spec(SPEC.replace("dense 8", "dense 9"), "other.stack")
    assert train(other, "--out", tmp_path / "o").exit_code == 0
    r = train(spec, "--out", tmp_path / "x", "--init", tmp_path / "o" / "weights.safetensors")
    assert r.exit_code == 1 and "E604" in r.stderr and not (tmp_path / "x").exists()


def test_tensorboard_without_tensorboardx_is_a_clear_error(spec, tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "tensorboardX" else real(n, *a)
    )
    r = train(spec, "--out", tmp_path / "o", "--tensorboard")
    assert r.exit_code == 1 and not (tmp_path / "o").exists()
    assert r.stderr == (
        "error: --tensorboard needs the tensorboardX package: pip install "
        "'stackspec[tensorboard]'\n"
    )


def test_tensorboard_writes_event_files(spec, tmp_path):
    pytest.importorskip("tensorboardX")
    out = tmp_path / "o"
    r = train(spec, "--out", out, "--tensorboard")
    assert r.exit_code == 0, r.output
    events = list((out / "tensorboard").glob("events.out.tfevents.*"))
    assert len(events) == 1
    data = events[0].read_bytes()
    assert all(tag.encode() in data for tag in ("loss", "val_loss", "mae", "val_mae"))


def test_curves_have_a_panel_per_metric_and_for_lr():
    from stackspec.training.curves import panels, render_png, wide_range

    h = {
        "loss": [3.0, 2.0, 1.0],
        "val_loss": [3.5, 2.5, 1.5],
        "mae": [1.0, 0.8, 0.7],
        "val_mae": [1.1, 0.9, 0.8],
        "accuracy": [0.1, 0.2, 0.3],
        "lr": [0.01, 0.01, 0.001],
    }
    assert panels(h) == [
        ("loss", ["loss", "val_loss"]),
        ("mae", ["mae", "val_mae"]),
        ("accuracy", ["accuracy"]),
        ("lr", ["lr"]),
    ]
    assert render_png(h).startswith(b"\x89PNG")
    assert render_png({"loss": [], "val_loss": []}).startswith(b"\x89PNG")
    assert wide_range([1e4, 5.0, 0.5]) and not wide_range([3.0, 1.0]) and not wide_range([-1, 1e3])
    # A constant learning rate is no curve: no panel (the title gives it).
    assert panels({**h, "lr": [0.01] * 3})[-1] == ("accuracy", ["accuracy"])


def test_an_interrupted_run_says_so_in_run_json(spec, tmp_path):
    class Interrupt(Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise KeyboardInterrupt  # a second Ctrl-C: no weights, but run.json knows

    from stackspec.training import run_folder as rf

    folder = rf.RunFolder(tmp_path / "r", "r", {"format": rf.FORMAT})
    s = stackspec.parse(SPEC)
    model = s.compile("numpy", seed=0)
    X, y = np.ones((40, 11)), np.ones(40)
    callbacks = [rf.StartRun(folder, SPEC), LiveHistory(folder), Interrupt()]
    with pytest.raises(KeyboardInterrupt):
        try:
            model.fit(X, y, epochs=2, verbose=0, callbacks=callbacks)
        except KeyboardInterrupt:
            folder.failed("interrupted")
            raise
    record = json.loads((tmp_path / "r" / "run.json").read_text())
    assert record["status"] == "interrupted" and record["started"] <= record["ended"]
    assert not (tmp_path / "r" / "weights.safetensors").exists()
    assert os.listdir(tmp_path / "r") and len(history(tmp_path / "r")) == 2
