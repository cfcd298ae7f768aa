"""Search spaces in the spec, `tune` (Optuna), `sweep` and `compare` (issue 15)."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from stackspec.cli import main
from stackspec.compiler.fmt import format_source
from stackspec.compiler.pipeline import compile_source
from stackspec.compiler.spaces import substitute, value_text

ROOT = Path(__file__).resolve().parent.parent

SPACES = """\
let width = choice(4, 8, 16)  # units
let lr = loguniform(1e-3, 1e-1)
let depth = int(1, 2)
let rate = uniform(0.0, 0.2)
input 3
repeat depth {
  dense width relu | dropout rate
}
dense 1
train {
  loss mse
  optimizer adam lr=lr
  epochs 3
  batch 32
}
"""


def found(text: str, overrides=None):
    diags = compile_source(text, "m.stack", overrides).diags.sorted()
    return [(d.code, d.span.line, d.span.column) for d in diags]


# --- search spaces in the spec ---------------------------------------------------------------


def test_spaces_take_their_first_or_lowest_value_with_a_warning():
    result = compile_source(SPACES, "m.stack")
    assert result.ir is not None
    assert [(d.code, d.span.line) for d in result.diags.sorted()] == [
        ("W205", 1),
        ("W205", 2),
        ("W205", 3),
        ("W205", 4),
    ]
    dense = result.ir.nodes[0]
    assert dense.params["units"] == 4 and result.ir.train["optimizer"]["lr"] == 0.001
    assert "its first value 4" in result.diags.sorted()[0].message


def test_set_fixes_a_space_without_a_warning():
    sets = {"width": "16", "lr": "0.01", "depth": "2", "rate": "0.1"}
    result = compile_source(SPACES, "m.stack", sets)
    assert result.diags.sorted() == [] and len(result.ir.nodes) == 5


BAD = {
    "empty choice": ("let a = choice()\ninput 3\ndense a\n", [("E215", 1, 9)]),
    "low >= high": ("let a = uniform(0.5, 0.1)\ninput 3\ndropout a\n", [("E215", 1, 22)]),
    "loguniform at 0": ("let a = loguniform(0, 1)\ninput 3\ndropout a\n", [("E215", 1, 20)]),
    "int bounds": ("let a = int(1.5, 4)\ninput 3\ndense a\n", [("E215", 1, 13)]),
    "unknown space": ("let a = chioce(1, 2)\ninput 3\ndense a\n", [("E215", 1, 9)]),
    "arity": ("let a = uniform(1)\ninput 3\ndense a\n", [("E215", 1, 9)]),
    "mixed choice": ("let a = choice(1, relu)\ninput 3\ndense a\n", [("E215", 1, 19)]),
    "float space as a count": (
        "let d = uniform(1, 4)\ninput 3\nrepeat d {\n  relu\n}\n",
        [("W205", 1, 5), ("E204", 3, 8)],
    ),
}


@pytest.mark.parametrize("name", BAD)
def test_search_space_diagnostics(name):
    text, expected = BAD[name]
    assert found(text) == expected


def test_fmt_keeps_spaces():
    messy = (
        "let  width=choice( 4,8 ,16 )\nlet lr = loguniform(1e-3,\n  1e-1)\ninput 3\ndense width\n"
    )
    once = format_source(messy)
    assert "let width = choice(4, 8, 16)\nlet lr = loguniform(1e-3, 1e-1)\n" in once
    assert format_source(once) == once
    assert format_source(SPACES) == SPACES


def test_substitute_keeps_the_rest():
    out = substitute(SPACES, {"width": "8", "lr": "0.02"})
    assert out.startswith("let width = 8  # units\nlet lr = 0.02\nlet depth = int(1, 2)\n")


def test_summary_space_shows_the_parameter_range(tmp_path):
    spec = tmp_path / "m.stack"
    spec.write_text(SPACES)
    result = CliRunner().invoke(main, ["summary", str(spec), "--space"])
    assert result.exit_code == 0, result.output
    assert "parameters over 24 corners:" in result.output
    assert "min 21 with width=4 lr=0.001 depth=1 rate=0.0" in result.output  # 3*4+4 + 4+1
    assert "max 353 with width=16" in result.output  # 64 + 272 + 17


# --- compare --------------------------------------------------------------------------------


def _fake_run(folder: Path, spec: str, sets: list[str], rows: list[tuple], seconds: int):
    folder.mkdir(parents=True)
    record = {
        "status": "finished",
        "spec": {"path": spec},
        "overrides": sets,
        "started": "2025-01-01T10:00:00Z",
        "ended": f"2025-01-01T10:{seconds // 60:02d}:{seconds % 60:02d}Z",
    }
    (folder / "run.json").write_text(json.dumps(record))
    lines = ["epoch,loss,val_loss,mae,val_mae,lr"]
    lines += [",".join(str(x) for x in (i + 1, *r, 0.001)) for i, r in enumerate(rows)]
    (folder / "history.csv").write_text("\n".join(lines) + "\n")


GOLDEN = """\
run  label                 status    epochs  best val_loss  best val_mae  final loss  final val_loss  final mae  final val_mae  time
a    red_wine              finished  3       0.5 (2)        0.6 (2)       0.4         0.55            0.5        0.62           1m05s
b    red_wine rate=0 bn=0  finished  2       0.7 (1)        0.8 (1)       0.3         0.9             0.4        0.85           9s"""  # noqa: E501


def test_compare_golden_table_and_png(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _fake_run(
        Path("a"),
        "specs/red_wine.stack",
        [],
        [(1, 0.6, 1, 0.7), (0.5, 0.5, 0.6, 0.6), (0.4, 0.55, 0.5, 0.62)],
        65,
    )
    _fake_run(
        Path("b"),
        "red_wine.stack",
        ["rate=0", "bn=0"],
        [(0.5, 0.7, 0.6, 0.8), (0.3, 0.9, 0.4, 0.85)],
        9,
    )
    result = CliRunner().invoke(main, ["compare", "a", "b", "-o", "c.png"])
    assert result.exit_code == 0, result.output
    assert result.stdout.rstrip("\n") == GOLDEN
    assert Path("c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_refuses_a_folder_without_a_run(tmp_path):
    result = CliRunner().invoke(main, ["compare", str(tmp_path)])
    assert result.exit_code == 1 and "not a run folder (no run.json)" in result.output


# --- sweep and tune: real runs on a tiny table ----------------------------------------------


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    rng = random.Random(0)
    rows = ["a,b,c,y"]
    for _ in range(120):
        a, b, c = (rng.uniform(-1, 1) for _ in range(3))
        rows.append(f"{a:.4f},{b:.4f},{c:.4f},{2 * a - b + 0.5 * c * c:.4f}")
    (tmp_path / "tiny.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "tiny.stack").write_text(SPACES)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_sweep_points_grid_and_zip():
    from stackspec.cli_sweep import sweep_points

    grid = sweep_points(("w=4,8", "r=0.1,0.2,0.3"), zipped=False)
    assert len(grid) == 6 and grid[0] == {"w": "4", "r": "0.1"}
    zipped = sweep_points(("w=4,8", "r=0.1,0.2", "d=1"), zipped=True)
    assert zipped == [{"w": "4", "r": "0.1", "d": "1"}, {"w": "8", "r": "0.2", "d": "1"}]


def test_sweep_runs_every_point(tiny):
    args = ["sweep", "tiny.stack", "--data", "tiny.csv", "--target", "y", "--epochs", "2"]
    args += ["--set", "width=4,8", "--set", "depth=1", "--set", "lr=0.01", "--set", "rate=0"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in Path("runs/tiny-sweep").iterdir() if p.is_dir())
    assert names == ["0000-width=4-depth=1-lr=0.01-rate=0", "0001-width=8-depth=1-lr=0.01-rate=0"]
    assert (Path("runs/tiny-sweep") / "compare.png").exists()
    record = json.loads(Path("runs/tiny-sweep", names[1], "run.json").read_text())
    assert record["status"] == "finished" and "width=8" in record["overrides"]
    zipped = CliRunner().invoke(
        main,
        [
            *args[:8],
            "--zip",
            "--set",
            "width=4,8",
            "--set",
            "depth=1,2",
            "--set",
            "lr=0.01",
            "--set",
            "rate=0",
            "--out",
            "z",
        ],
    )
    assert zipped.exit_code == 0, zipped.output
    assert len([p for p in Path("z").iterdir() if p.is_dir()]) == 2


def _tune(*args, timeout=240):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "stackspec", "tune", "tiny.stack", "--data", "tiny.csv"]
    cmd += ["--target", "y", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)


def test_tune_study_resumes_prunes_and_writes_best(tiny):
    optuna = pytest.importorskip("optuna")
    first = _tune("--trials", "3", "--prune-after", "1")
    assert first.returncode == 0, first.stderr
    second = _tune("--trials", "6", "--jobs", "2", "--prune-after", "1")
    assert second.returncode == 0, second.stderr
    study = optuna.load_study(study_name="tiny", storage="sqlite:///runs/tiny-tune/tune.db")
    states = [t.state.name for t in study.trials]
    assert len(states) == 6, states  # the second run added only the three remaining trials
    assert "PRUNED" in states, states
    folders = sorted(p.name for p in Path("runs/tiny-tune").glob("trial-*"))
    assert folders == [f"trial-{i:04d}" for i in range(6)]
    assert "study tiny:" in second.stdout and "trial-" in second.stdout
    best = study.best_trial
    text = Path("runs/tiny-tune/best.stack").read_text()
    for name, value in best.params.items():
        assert re.search(rf"^let {name} = {re.escape(value_text(value))}( |$)", text, re.M)
    check = CliRunner().invoke(main, ["check", "runs/tiny-tune/best.stack"])
    assert check.exit_code == 0 and "W205" not in check.output, check.output
    record = json.loads(Path(f"runs/tiny-tune/trial-{best.number:04d}/run.json").read_text())
    assert record["tune"]["value"] == pytest.approx(best.value)
    for png in ("history.png", "importances.png", "parallel.png"):
        assert Path("runs/tiny-tune", png).exists(), second.stderr


def test_tune_without_a_space_is_an_error(tiny):
    pytest.importorskip("optuna")
    sets = ["--set", "width=4", "--set", "lr=0.01", "--set", "depth=1", "--set", "rate=0"]
    result = _tune("--trials", "2", *sets)
    assert result.returncode == 1 and "no search space left to tune" in result.stderr


def test_tune_resumes_after_sigint(tiny):
    """Ctrl-C in a trial: the trial is failed as interrupted (its run folder says so), the
    command exits 130, and the same command then runs only the trials that are left."""
    import signal
    import time

    optuna = pytest.importorskip("optuna")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "stackspec", "tune", "tiny.stack", "--data", "tiny.csv"]
    cmd += ["--target", "y", "--trials", "4", "--epochs", "60"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    second = Path("runs/tiny-tune/trial-0001/history.csv")
    deadline = time.monotonic() + 120
    while not (second.exists() and len(second.read_text().splitlines()) > 3):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert b"run the same command again" in err
    study = optuna.load_study(study_name="tiny", storage="sqlite:///runs/tiny-tune/tune.db")
    cut = study.trials[-1]
    assert cut.state.name == "FAIL" and cut.user_attrs["interrupted"]
    record = json.loads(Path(f"runs/tiny-tune/trial-{cut.number:04d}/run.json").read_text())
    assert record["status"] == "interrupted"
    done_before = sum(t.state.name != "FAIL" for t in study.trials)
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert again.returncode == 0, again.stderr
    study = optuna.load_study(study_name="tiny", storage="sqlite:///runs/tiny-tune/tune.db")
    counted = [t for t in study.trials if t.state.name != "FAIL"]
    assert len(counted) == 4 and len(study.trials) == 5
    assert again.stdout.count("\ntrial ") + again.stdout.startswith("trial ") == 4 - done_before
