"""Data-parallel training (`train --nproc`, torch.distributed with gloo on 127.0.0.1): 2 ranks
reach one process's weights and history, only rank 0 writes, a NaN stops every rank, SIGTERM
to the launcher leaves no worker behind, and a killed worker is restarted and resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")
if not (dist.is_available() and dist.is_gloo_available()):
    pytest.skip("torch.distributed with gloo is unavailable", allow_module_level=True)

pytestmark = [pytest.mark.distributed, pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent

SPEC = """input 4
dense 8 relu
batchnorm
{dropout}dense 1
train {{
  loss mse
  optimizer {optimizer}
  batch {batch}
  epochs {epochs}
{checkpoint}}}
"""


@pytest.fixture
def run_dir(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    y = X @ np.array([1.0, -2.0, 0.5, 0.3]) + 0.1 * rng.normal(size=200)
    table = np.column_stack((X, y))
    rows = ["a,b,c,d,y"] + [",".join(f"{v:.6f}" for v in row) for row in table]
    (tmp_path / "data.csv").write_text("\n".join(rows) + "\n")
    return tmp_path


def write_spec(folder: Path, name="tiny", optimizer="adam lr=0.01", batch=16, epochs=2, **more):
    path = folder / f"{name}.stack"
    dropout = "dropout 0.25\n" if more.get("dropout") else ""
    checkpoint = "  checkpoint every=1 keep=1\n" if more.get("checkpoint") else ""
    settings = dict(optimizer=optimizer, batch=batch, epochs=epochs)
    path.write_text(SPEC.format(**settings, dropout=dropout, checkpoint=checkpoint))
    return path.name


def train(folder, spec, out, *extra, wait=True):
    args = [spec, "--data", "data.csv", "--target", "y", "--backend", "torch"]
    return stackspec(folder, *args, "--device", "cpu", "--out", out, *extra, wait=wait)


def stackspec(folder, *args, wait=True):
    """`stackspec train ARGS` in `folder`: its process, or (exit code, stdout, stderr)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    args = [sys.executable, "-m", "stackspec", "train", *args]
    proc = subprocess.Popen(
        args, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    if not wait:
        return proc
    out_text, err = proc.communicate(timeout=240)
    return proc.returncode, out_text, err


def weights(path: Path) -> dict:
    from safetensors.numpy import load_file

    return load_file(path / "weights.safetensors")


def assert_same_run(a: Path, b: Path, rtol=1e-5) -> None:
    wa, wb = weights(a), weights(b)
    for key in wa:
        np.testing.assert_allclose(wb[key], wa[key], rtol=rtol, atol=rtol / 10, err_msg=key)
    ha = np.loadtxt(a / "history.csv", delimiter=",", skiprows=1)
    hb = np.loadtxt(b / "history.csv", delimiter=",", skiprows=1)
    np.testing.assert_allclose(hb, ha, rtol=rtol)


def workers_of(pid: int) -> list[int]:
    out = subprocess.run(["ps", "--ppid", str(pid), "-o", "pid="], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def environ(pid: int) -> bytes:
    return b"\0" + Path(f"/proc/{pid}/environ").read_bytes()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone as far as the test cares (its parent has not reaped it yet).
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(")")[-1].split()[0] != "Z"


def test_two_ranks_equal_one_process_and_only_rank_0_writes(run_dir):
    spec = write_spec(run_dir)
    one = train(run_dir, spec, "one")
    two = train(run_dir, spec, "two", "--nproc", "2")
    assert one[0] == 0, one[2]
    assert two[0] == 0, two[2]
    assert_same_run(run_dir / "one", run_dir / "two")
    # one writer: the run folder and nothing else, printed once
    assert sorted(p.name for p in run_dir.iterdir()) == ["data.csv", "one", spec, "two"]
    assert sorted(os.listdir(run_dir / "two")) == sorted(os.listdir(run_dir / "one"))
    assert two[1].count("wrote two/") == 1
    assert two[2].count("run folder:") == 1


def test_nan_stops_every_rank_with_exit_1_and_is_not_retried(run_dir):
    spec = write_spec(run_dir, "nan", optimizer="sgd lr=1e30")
    code, _, err = train(run_dir, spec, "nan", "--nproc", "2", "--max-restarts", "2")
    assert code == 1, err
    assert err.count("error: training failed: the training loss became nan") == 1
    assert err.count("error:") == 1, err  # rank 0 says it; the others are quiet
    assert "worker rank" not in err  # every rank ended with rank 0's code
    # the restarts found the run stopped for good: none trained again
    assert "resuming" not in err and "no checkpoint" not in err, err


def test_an_error_of_every_rank_is_said_once(run_dir):
    spec = write_spec(run_dir, batch=5)
    code, _, err = train(run_dir, spec, "odd", "--nproc", "2")
    assert code == 1, err
    assert err.count("error: batch 5 does not divide over 2 workers") == 1, err
    assert err.count("error:") == 1, err


def test_numpy_backend_refuses_nproc(run_dir, monkeypatch):
    from click.testing import CliRunner

    from stackspec.cli import main

    spec = write_spec(run_dir)
    monkeypatch.chdir(run_dir)
    result = CliRunner().invoke(main, ["train", spec, "--data", "data.csv", "--nproc", "2"])
    assert result.exit_code == 2
    assert "--backend torch" in result.output


def test_sigterm_to_the_launcher_leaves_no_worker(run_dir):
    spec = write_spec(run_dir, epochs=10000)
    proc = train(run_dir, spec, "long", "--nproc", "2", wait=False)
    deadline = time.monotonic() + 180
    while not (run_dir / "long" / "history.csv").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    kids = workers_of(proc.pid)
    assert len(kids) == 2
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert not [pid for pid in kids if alive(pid)]
    record = (run_dir / "long" / "run.json").read_text()
    assert '"status": "interrupted"' in record


def first_checkpoint(run: Path) -> None:
    first = run / "checkpoints" / "epoch-0001"
    deadline = time.monotonic() + 180
    while not first.exists() and time.monotonic() < deadline:
        time.sleep(0.1)


def kill_rank_1(launcher) -> None:
    rank1 = [p for p in workers_of(launcher.pid) if b"\0RANK=1\0" in environ(p)]
    assert rank1, "no worker of rank 1"
    os.kill(rank1[0], signal.SIGKILL)


def test_killed_worker_restarts_and_resumes(run_dir):
    spec = write_spec(run_dir, "slow", batch=4, epochs=4)
    reference = train(run_dir, spec, "ref", wait=False)
    proc = train(run_dir, spec, "re", "--nproc", "2", "--max-restarts", "1", wait=False)
    first_checkpoint(run_dir / "re")
    kill_rank_1(proc)
    _, err = proc.communicate(timeout=240)
    reference.communicate(timeout=240)
    assert proc.returncode == 0, err
    assert "resuming re after epoch" in err
    assert_same_run(run_dir / "ref", run_dir / "re")


def test_dropout_run_restarted_equals_the_uninterrupted_one(run_dir):
    # Every rank draws its own dropout masks: a checkpoint holds every rank's RNG state, and
    # each rank of the restarted group takes its own back.
    spec = write_spec(run_dir, "drop", batch=4, epochs=4, dropout=True)
    reference = train(run_dir, spec, "ref", "--nproc", "2", wait=False)
    proc = train(run_dir, spec, "re", "--nproc", "2", "--max-restarts", "1", wait=False)
    first_checkpoint(run_dir / "re")
    kill_rank_1(proc)
    _, err = proc.communicate(timeout=240)
    reference.communicate(timeout=240)
    assert reference.returncode == 0
    assert proc.returncode == 0, err
    assert "resuming re after epoch" in err
    state = json.loads(next((run_dir / "re" / "checkpoints").glob("*/state.json")).read_text())
    assert len(state["rng"]["dropout"]["ranks"]) == 2
    assert_same_run(run_dir / "ref", run_dir / "re", rtol=1e-6)


def test_resume_of_a_dropout_run_whose_worker_died(run_dir):
    spec = write_spec(run_dir, "drop", batch=4, epochs=6, dropout=True, checkpoint=True)
    reference = train(run_dir, spec, "ref", "--nproc", "2", wait=False)
    proc = train(run_dir, spec, "cut", "--nproc", "2", wait=False)
    first_checkpoint(run_dir / "cut")
    kill_rank_1(proc)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    # rank 0's line, unless torchrun stopped it first; the launcher's when it did
    assert "another worker stopped" in err or "rank 1 was killed by signal 9" in err, err
    assert "worker rank 0" not in err, err
    record = json.loads((run_dir / "cut" / "run.json").read_text())
    assert record["status"] == "interrupted"  # resumable: the run itself did not fail
    # another number of workers would draw other masks: refused, the run left as it was
    code, _, err = stackspec(run_dir, "--resume", "cut")
    assert code == 1, err
    assert "written by 2 workers and this run has 1 process" in err
    code, _, err = stackspec(run_dir, "--resume", "cut", "--nproc", "2")
    assert code == 0, err
    reference.communicate(timeout=240)
    assert reference.returncode == 0
    assert_same_run(run_dir / "ref", run_dir / "cut", rtol=1e-6)


def test_a_checkpoint_gives_each_rank_its_own_dropout_state():
    from types import SimpleNamespace

    from stackspec.compiler.pipeline import compile_source
    from stackspec.training.loop_state import CheckpointError, rank_rng

    def model(source: str, rank: int, size: int):
        ir = compile_source(source).ir
        return SimpleNamespace(ir=ir, _rank=lambda: (rank, size))

    drop, plain = "input 4\ndropout 0.5\ndense 1\n", "input 4\ndense 1\n"
    one = {"torch": "a"}
    two = {"torch": "a", "ranks": [{"torch": "a"}, {"torch": "b"}]}
    assert rank_rng(model(drop, 0, 1), one) == one  # one process's checkpoint, as before
    assert rank_rng(model(drop, 1, 2), two) == {"torch": "b"}
    assert rank_rng(model(plain, 0, 1), two) is None  # nothing draws from the RNG
    with pytest.raises(CheckpointError, match="written by 2 workers and this run has 1"):
        rank_rng(model(drop, 0, 1), two)
