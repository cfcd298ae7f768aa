"""Learning-rate schedules, gradient clipping and the lr column (LANGUAGE.md §12).

The schedules' formulas (training/schedules.py) against hand values; the settings' diagnostics;
the loop setting the lr before each step and recording it; both backends step for step equal
under each schedule and each clip mode; clipping bounding an update; the CLI's history.csv.
"""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import DATA, ROOT, needs_torch

import stackspec
from stackspec.cli import main
from stackspec.compiler.fmt import format_source
from stackspec.diagnostics import SpecError
from stackspec.training.schedules import Schedule, schedule_lr

LR = 0.1


def sequence(settings, steps, epochs, lr=LR):
    """Every step's lr of a schedule without state."""
    return [schedule_lr(settings, lr, t, steps, epochs) for t in range(1, steps * epochs + 1)]


def test_no_schedule_and_constant():
    assert sequence(None, 3, 2) == [LR] * 6
    assert sequence({"name": "constant", "warmup": 0}, 3, 2) == [LR] * 6


def test_constant_with_warm_up_rises_linearly_per_step():
    got = sequence({"name": "constant", "warmup": 2}, 2, 4)  # W = 4 steps
    assert got == pytest.approx([0.025, 0.05, 0.075, 0.1, 0.1, 0.1, 0.1, 0.1], rel=1e-15)


def test_step_schedule_per_epoch():
    step = {"name": "step", "warmup": 0, "every": 2, "factor": 0.5}
    got = sequence(step, 3, 5)  # epochs 1-2: lr, 3-4: lr/2, 5: lr/4
    assert got == pytest.approx([0.1] * 6 + [0.05] * 6 + [0.025] * 3, rel=1e-15)
    warm = sequence({**step, "warmup": 1}, 3, 3)
    assert warm == pytest.approx([0.1 / 3, 0.2 / 3, 0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05])


def test_cosine_after_warm_up_ends_at_min_lr():
    cosine = {"name": "cosine", "warmup": 1, "min_lr": 0.01}
    got = sequence(cosine, 2, 3)  # W = 2, T = 6
    expected = [0.05, 0.1] + [
        0.01 + 0.09 * (1 + math.cos(math.pi * k / 4)) / 2 for k in (1, 2, 3, 4)
    ]
    assert got == pytest.approx(expected, rel=1e-15)
    assert got[-1] == pytest.approx(0.01, rel=1e-15)
    plain = sequence({**cosine, "warmup": 0, "min_lr": 0.0}, 1, 4)
    assert plain == pytest.approx([0.1 * (1 + math.cos(math.pi * k / 4)) / 2 for k in range(1, 5)])


def test_cosine_with_a_warm_up_as_long_as_the_run():
    got = sequence({"name": "cosine", "warmup": 3, "min_lr": 0.0}, 2, 3)
    assert got == pytest.approx([LR * t / 6 for t in range(1, 7)])


def plateau(patience=2, factor=0.5, min_lr=0.02, warmup=0, steps=1, epochs=20):
    settings = {
        "name": "plateau",
        "warmup": warmup,
        "patience": patience,
        "factor": factor,
        "min_lr": min_lr,
    }
    return Schedule(settings, LR, steps, epochs)


def run_plateau(schedule, losses, start=1):
    """The lr of each epoch's first step, feeding `losses` in at each epoch's end."""
    lrs = []
    for epoch, loss in enumerate(losses, start):
        lrs.append(schedule.lr(epoch, 1))
        schedule.end_epoch(loss)
    return lrs


def test_plateau_reduces_after_patience_epochs_and_stops_at_min_lr():
    losses = [5, 4, 4, 4, 3, 3, 3, 3, 3, 3, 3, 3, 2]
    lrs = run_plateau(plateau(), losses)
    # epochs 3 and 4 do not improve: reduced after epoch 4; epoch 5 improves; 6, 7 do not:
    # reduced after 7, after 9 (to min_lr 0.02 rather than 0.0125), then it stays.
    expected = [0.1] * 4 + [0.05] * 3 + [0.025] * 2 + [0.02] * 4
    assert lrs == pytest.approx(expected, rel=1e-15)


def test_plateau_patience_zero_reduces_after_each_epoch_that_does_not_improve():
    assert run_plateau(plateau(patience=0, min_lr=0), [3, 3, 2, 2]) == pytest.approx(
        [0.1, 0.1, 0.05, 0.05]
    )


def test_plateau_with_warm_up_multiplies_its_current_lr():
    s = plateau(patience=1, warmup=1, steps=4)
    assert [s.lr(1, b) for b in (1, 2, 3, 4)] == pytest.approx([0.025, 0.05, 0.075, 0.1])
    s.end_epoch(1.0)
    s.end_epoch(1.0)
    assert s.lr(3, 1) == pytest.approx(0.05)


def test_schedule_state_is_json_and_resumes_exactly():
    losses = [5, 4, 4, 4, 3, 3, 3, 3, 3, 3, 3]
    whole = run_plateau(plateau(), losses)
    first = plateau()
    run_plateau(first, losses[:6])
    saved = json.loads(json.dumps(first.state()))
    resumed = plateau()
    resumed.load_state(saved)
    assert run_plateau(resumed, losses[6:], start=7) == whole[6:]
    fresh = plateau().state()
    assert json.loads(json.dumps(fresh)) == {"lr": LR, "best": None, "wait": 0}


# --- settings -------------------------------------------------------------------------------


def train_ir(body: str, optimizer: str = "sgd lr=0.1") -> dict:
    spec = f"input 2\ndense 1\ntrain {{\n  optimizer {optimizer}\n  {body}\n}}\n"
    return stackspec.parse(spec).ir.train


def errors(body: str, optimizer: str = "sgd lr=0.1") -> list[str]:
    with pytest.raises(SpecError) as info:
        train_ir(body, optimizer)
    return [f"{d.code} {d.message}" for d in info.value.diagnostics]


def test_schedule_and_clip_settings_in_the_ir():
    assert train_ir("schedule step every=30")["schedule"] == {
        "name": "step",
        "warmup": 0,
        "every": 30,
        "factor": 0.1,
    }
    assert train_ir("schedule cosine warmup=5 min_lr=0")["schedule"] == {
        "name": "cosine",
        "warmup": 5,
        "min_lr": 0.0,
    }
    assert train_ir("schedule plateau patience=5 factor=0.5 min_lr=0")["schedule"] == {
        "name": "plateau",
        "warmup": 0,
        "patience": 5,
        "factor": 0.5,
        "min_lr": 0.0,
    }
    assert train_ir("schedule constant warmup=3")["schedule"] == {"name": "constant", "warmup": 3}
    assert train_ir("clip norm=1.0")["clip"] == {"norm": 1.0}
    assert train_ir("clip value=0.5")["clip"] == {"value": 0.5}
    plain = train_ir("epochs 3")
    assert plain["schedule"] is None and plain["clip"] is None


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("schedule cosin", "E203 schedule: unknown schedule 'cosin'; did you mean 'cosine'?"),
        ("schedule step", "E206 schedule step: missing argument 'every'"),
        ("schedule step every=0", "E205 schedule step: every must be >= 1, got 0"),
        ("schedule step every=3 factor=0", "E205 schedule step: factor must be in (0, 1], got 0"),
        ("schedule plateau factor=1.5", "E205 schedule plateau: factor must be in (0, 1], got 1.5"),
        ("schedule plateau patience=-1", "E205 schedule plateau: patience must be >= 0, got -1"),
        ("schedule cosine min_lr=-1", "E205 schedule cosine: min_lr must be >= 0, got -1"),
        ("schedule constant warmup=-2", "E205 schedule constant: warmup must be >= 0, got -2"),
        (
            "schedule cosine warmpu=3",
            "E202 schedule cosine: unknown keyword 'warmpu'; did you mean 'warmup'?",
        ),
        (
            "schedule cosine min_lr=0.5",
            "E205 schedule cosine: min_lr 0.5 is above the optimizer's lr 0.1",
        ),
        ("schedule", "E206 schedule: missing argument 'schedule'"),
        ("clip", "E206 clip: missing argument 'norm' or 'value'"),
        ("clip norm=1 value=1", "E207 clip: give norm or value, not both"),
        ("clip norm=0", "E205 clip: norm must be > 0, got 0"),
        ("clip value=-1", "E205 clip: value must be > 0, got -1"),
        ("clip nrom=1", "E202 clip: unknown keyword 'nrom'; did you mean 'norm'?"),
        ("clip 1.0", "E209 clip takes no positional arguments, got 1"),
        ("schedul cosine", "E212 unknown train setting 'schedul'; did you mean 'schedule'?"),
    ],
)
def test_setting_errors(body, expected):
    assert errors(body) == [expected]


def test_format_keeps_schedule_and_clip():
    head = "input 2\ndense 1\ntrain {\n"
    text = head + "  schedule  cosine warmup=5   min_lr=0\n  clip norm=1.0\n}\n"
    out = format_source(text)
    assert out == head + "  schedule cosine warmup=5 min_lr=0\n  clip norm=1.0\n}\n"
    assert stackspec.parse(out).ir.train == stackspec.parse(text).ir.train


def test_the_example_spec_checks():
    spec = stackspec.load(ROOT / "specs" / "red_wine_schedule.stack")
    assert spec.ir.train["schedule"] == {"name": "cosine", "warmup": 5, "min_lr": 0.0}
    assert spec.ir.train["clip"] == {"norm": 1.0}


# --- the loop -------------------------------------------------------------------------------

SPEC = """input 3
dense 6 tanh
batchnorm
dense 4 relu
dense 1
train {{
  optimizer {optimizer}
  batch 8
  epochs {epochs}
  {extra}
}}
"""
SCHEDULES = [
    "schedule constant warmup=1",
    "schedule step every=1 factor=0.5 warmup=1",
    "schedule cosine min_lr=0.001 warmup=1",
    "schedule plateau patience=0 factor=0.5",
]
CLIPS = ["clip norm=0.05", "clip value=0.01"]


def problem(n=30, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3)).astype(np.float32)
    y = (X @ [1.0, -2.0, 0.5] + 0.3 * rng.standard_normal(n)).astype(np.float32)
    return X, y


def fitted(backend, extra, optimizer="adam lr=0.01", epochs=3, verbose=0):
    spec = stackspec.parse(SPEC.format(optimizer=optimizer, epochs=epochs, extra=extra))
    kwargs = {"device": "cpu"} if backend == "torch" else {}
    model = spec.compile(backend, **kwargs)
    X, y = problem()
    history = model.fit(X, y, validation_data=problem(10, seed=1), verbose=verbose)
    return model, history


def test_the_lr_column_records_each_epochs_last_step():
    _, h = fitted("numpy", "schedule cosine min_lr=0.001 warmup=1", epochs=3)
    steps = 4  # 30 examples in batches of 8
    settings = {"name": "cosine", "warmup": 1, "min_lr": 0.001}
    lrs = [schedule_lr(settings, 0.01, e * steps, steps, 3) for e in (1, 2, 3)]
    assert h["lr"] == lrs and lrs[0] == 0.01 and lrs[-1] == pytest.approx(0.001, rel=1e-15)
    assert list(h)[-1] == "lr" and h.to_csv().splitlines()[0].endswith(",val_loss,lr")


def test_the_backend_gets_every_new_lr_before_its_step(monkeypatch):
    from stackspec.backends.numpy.model import NumpyModel

    seen = []
    original = NumpyModel._train_step

    def step(self, x, y):
        seen.append(self._optimizer.hyper["lr"])
        return original(self, x, y)

    monkeypatch.setattr(NumpyModel, "_train_step", step)
    fitted("numpy", "schedule step every=1 factor=0.5 warmup=1", epochs=3)
    settings = {"name": "step", "warmup": 1, "every": 1, "factor": 0.5}
    assert seen == sequence(settings, 4, 3, lr=0.01)


def test_plateau_in_fit_reduces_after_patience_and_says_so(capsys):
    # An lr too small to change a float32 weight: the loss never improves after epoch 1.
    spec = stackspec.parse(
        "input 2\ndense 1\ntrain {\n optimizer sgd lr=1e-30\n batch 4\n epochs 6\n"
        " schedule plateau patience=2 factor=0.5\n}\n"
    )
    X = np.ones((8, 2), np.float32)
    h = spec.compile("numpy").fit(X, X[:, 0], validation_data=(X, X[:, 0]), verbose=2)
    assert h["lr"] == [1e-30, 1e-30, 1e-30, 5e-31, 5e-31, 2.5e-31]
    err = capsys.readouterr().err
    assert "epoch 3: val_loss has not improved for 2 epochs; lr now 5e-31" in err
    assert "lr 1e-30" in err  # the progress lines show it
    h = spec.compile("numpy").fit(X, X[:, 0], verbose=2)
    assert h["lr"] == [1e-30, 1e-30, 1e-30, 5e-31, 5e-31, 2.5e-31]
    err = capsys.readouterr().err
    assert "warning: schedule plateau without validation data watches the training loss" in err
    assert "epoch 3: loss has not improved" in err


def test_a_warm_up_longer_than_the_run_is_warned_about(capsys):
    fitted("numpy", "schedule constant warmup=5", epochs=2, verbose=2)
    assert "warm-up of 5 epochs is longer than the 2 epochs" in capsys.readouterr().err


@needs_torch
@pytest.mark.parametrize("extra", SCHEDULES + CLIPS + [""])
@pytest.mark.parametrize(
    "optimizer",
    # a large eps: where torch's and Keras's placements differ most (the backends use Keras's)
    ["adam lr=0.01", "adamw lr=0.01 eps=0.1", "sgd lr=0.05 momentum=0.9"],
)
def test_both_backends_train_step_for_step_alike(extra, optimizer):
    a, ha = fitted("numpy", extra, optimizer)
    b, hb = fitted("torch", extra, optimizer)
    assert ha["lr"] == hb["lr"]
    wa, wb = a.get_weights(), b.get_weights()
    for key in wa:
        np.testing.assert_allclose(wb[key], wa[key], rtol=1e-5, atol=1e-6, err_msg=key)


@pytest.mark.parametrize("backend", ["numpy", pytest.param("torch", marks=needs_torch)])
def test_clip_norm_bounds_the_update_of_a_huge_gradient(backend):
    spec = stackspec.parse(
        "input 3\ndense 4 relu\ndense 1\ntrain {\n optimizer sgd lr=0.1\n batch 8\n epochs 1\n"
        " clip norm=0.5\n}\n"
    )
    model = spec.compile(backend, **({"device": "cpu"} if backend == "torch" else {}))
    before = model.get_weights()
    X = np.ones((8, 3), np.float32)
    model.fit(X, np.full(8, 1e6, np.float32), verbose=0)
    after = model.get_weights()
    moved = math.sqrt(sum(float(np.sum((after[k] - before[k]) ** 2)) for k in before))
    assert 0.04 < moved <= 0.1 * 0.5 * (1 + 1e-5)


@pytest.mark.parametrize("backend", ["numpy", pytest.param("torch", marks=needs_torch)])
def test_clip_value_clamps_each_gradient(backend):
    spec = stackspec.parse(
        "input 3\ndense 1\ntrain {\n optimizer sgd lr=0.1\n batch 8\n epochs 1\n"
        " clip value=0.5\n}\n"
    )
    model = spec.compile(backend, **({"device": "cpu"} if backend == "torch" else {}))
    before = model.get_weights()
    model.fit(np.ones((8, 3), np.float32), np.full(8, 1e6, np.float32), verbose=0)
    after = model.get_weights()
    for key in before:  # every gradient is huge and negative: each weight moves by lr * 0.5
        np.testing.assert_allclose(after[key] - before[key], 0.05, rtol=1e-5)


@needs_torch
def test_torch_adam_eps_follows_the_step_of_a_loaded_optimizer_state():
    """The per-step eps reads t from the optimizer's state, so a resumed state continues it."""
    text = SPEC.format(optimizer="adam lr=0.01", epochs=1, extra="")
    spec = stackspec.parse(text)
    X, y = problem(32)
    batches = [(X[i : i + 8], y[i : i + 8]) for i in range(0, 32, 8)]
    whole = spec.compile("torch", device="cpu")
    whole._begin_training(spec.ir.train)
    for xb, yb in batches:
        whole._train_step(xb, yb)
    first = spec.compile("torch", device="cpu")
    first._begin_training(spec.ir.train)
    for xb, yb in batches[:2]:
        first._train_step(xb, yb)
    second = spec.compile("torch", device="cpu")
    second.set_weights(first.get_weights())
    second._begin_training(spec.ir.train)
    second._optimizer.load_state_dict(first._optimizer.state_dict())
    for xb, yb in batches[2:]:
        second._train_step(xb, yb)
    wa, wb = whole.get_weights(), second.get_weights()
    for key in wa:
        np.testing.assert_array_equal(wb[key], wa[key], err_msg=key)


def test_cli_history_has_the_lr_column(tmp_path):
    spec = tmp_path / "s.stack"
    spec.write_text(
        "input 11\ndense 8 relu\ndense 1\ntrain {\n loss mae\n batch 512\n epochs 3\n"
        " schedule step every=2 factor=0.5\n clip norm=1.0\n}\n"
    )
    out = tmp_path / "run"
    args = ["train", spec, "--data", DATA, "--target", "quality", "--out", out]
    r = CliRunner().invoke(main, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO((out / "history.csv").read_text())))
    assert list(rows[0]) == ["epoch", "loss", "val_loss", "lr"]
    assert [float(r["lr"]) for r in rows] == [0.001, 0.001, 0.0005]


def test_fit_takes_schedule_and_clip_like_the_spec_lines():
    spec = stackspec.parse("input 2\ndense 1\ntrain {\n  epochs 4\n  batch 2\n}\n")
    x = np.arange(8, dtype=np.float32).reshape(4, 2)
    sched = {"name": "step", "every": 2, "factor": 0.5}
    history = spec.compile("numpy").fit(x, x[:, 0], schedule=sched, clip={"norm": 1.0}, verbose=0)
    assert history["lr"] == [0.001, 0.001, 0.0005, 0.0005]
    written = stackspec.parse(
        "input 2\ndense 1\ntrain {\n  epochs 4\n  batch 2\n  schedule step every=2 factor=0.5\n"
        "  clip norm=1.0\n}\n"
    )
    expected = written.compile("numpy").fit(x, x[:, 0], verbose=0)
    assert history["loss"] == expected["loss"]
    off = written.compile("numpy").fit(x, x[:, 0], schedule=False, verbose=0)
    assert off["lr"] == [0.001] * 4


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"schedule": {"name": "cosin"}}, "name among"),
        ({"schedule": {"name": "step"}}, "missing 'every'"),
        ({"schedule": {"name": "step", "every": 0}}, "outside"),
        ({"schedule": {"name": "cosine", "min_lr": "x"}}, "must be a number"),
        ({"schedule": {"name": "cosine", "bogus": 1}}, "unknown setting 'bogus'"),
        ({"clip": {"norm": 1.0, "value": 1.0}}, "clip must be"),
        ({"clip": {"norm": -1.0}}, "outside"),
    ],
)
def test_fit_refuses_a_bad_schedule_or_clip(kwargs, match):
    model = stackspec.parse("input 2\ndense 1\n").compile("numpy")
    x = np.zeros((4, 2), np.float32)
    with pytest.raises(ValueError, match=match):
        model.fit(x, x[:, 0], verbose=0, **kwargs)
