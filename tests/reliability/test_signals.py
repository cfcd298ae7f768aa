"""SIGINT and SIGTERM at start-up, mid-epoch and while the outputs are written (issue 7, defect
14): always exit 130 with `interrupted`, never a traceback, and the --out folder either complete
(all four files) or absent, with no `*.tmp` left.

Each test runs `python -m stackspec train ...` as a real process and signals it from outside,
except the writing tests: a few milliseconds of renames cannot be hit by timing, so there a small
driver patches one function to make the process send itself the real signal at a chosen point
(after the weights are written; at the first rename into --out), then runs the real entry point
with the real handlers. The start-up tests read the process's caught-signal mask from /proc to
tell stackspec's start-up (handlers installed) from the interpreter's own, which no Python code
can answer for: a signal that lands there gets the interpreter's default behaviour.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .catalogue import CSV, SPEC

ROOT = Path(__file__).resolve().parents[2]
FILES = {"weights.safetensors", "history.csv", "curves.png", "spec.stack", "run.json"}
SIGNALS = [signal.SIGINT, signal.SIGTERM]
TRAIN = ["train", "m.stack", "--data", "d.csv", "--target", "y", "--out", "run"]
# Long enough to be interrupted mid-epoch: ~0.5 s per epoch, far more epochs than a test waits.
LONG_SPEC = "input 3\ndense 256 relu\ndense 256 relu\ndense 1\ntrain {\n  epochs 10000\n}\n"
LONG_CSV = "a,b,c,y\n" + "".join(f"{i % 7},{i % 5},{-(i % 11)},{i % 3}\n" for i in range(6000))

needs_proc = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")


def spawn(tmp: Path, args: list[str], files: dict[str, str], driver: str | None = None):
    for name, text in files.items():
        (tmp / name).write_text(text)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "100"}
    cmd = [sys.executable, "-c", driver, *args] if driver else [sys.executable, "-m", "stackspec"]
    return subprocess.Popen(
        cmd if driver else [*cmd, *args],
        cwd=tmp,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc, timeout: float = 60) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=timeout)
    finally:
        proc.kill()


def handlers_installed(pid: int) -> bool:
    """Whether stackspec's handlers are in: Python itself never catches SIGTERM."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:  # already gone
        return True
    caught = int(
        next(line for line in text.splitlines() if line.startswith("SigCgt:")).split()[1], 16
    )
    return bool(caught & (1 << (signal.SIGTERM - 1)))


def assert_interrupted(tmp: Path, proc, stdout: str, stderr: str) -> None:
    shown = stdout + stderr
    assert proc.returncode == 130, f"exit {proc.returncode}\n{shown}"
    assert "interrupted" in stderr and "Traceback" not in shown, shown
    assert_whole_or_absent(tmp)


def assert_whole_or_absent(tmp: Path) -> None:
    run = tmp / "run"
    if run.exists():
        assert {p.name for p in run.iterdir()} == FILES
    leftovers = [str(p) for p in tmp.rglob("*.tmp")]
    assert not leftovers, leftovers


# --- (a) start-up ----------------------------------------------------------------------------


@needs_proc
@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_signal_at_stackspecs_first_instruction(tmp_path, sig):
    """The signal goes the moment the handlers are in: while click, the compiler and numpy are
    still being imported."""
    proc = spawn(tmp_path, TRAIN, {"m.stack": SPEC, "d.csv": CSV})
    deadline = time.monotonic() + 30
    while not handlers_installed(proc.pid):
        assert time.monotonic() < deadline, "the handlers were never installed"
    proc.send_signal(sig)
    stdout, stderr = finish(proc)
    assert_interrupted(tmp_path, proc, stdout, stderr)
    assert not (tmp_path / "run").exists()


@needs_proc
@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
@pytest.mark.parametrize("delay", [0, 0.05, 0.1, 0.2, 0.4, 0.8])
def test_signal_at_start_up_after_a_delay(tmp_path, sig, delay):
    """Immediately after spawn and after short delays (parsing the spec, reading the CSV,
    importing the backend, then training). Before stackspec's first instruction the
    interpreter's default applies (killed by the signal, or Python's own KeyboardInterrupt
    while it imports `site`); nothing can have been written then either."""
    proc = spawn(
        tmp_path, TRAIN, {"m.stack": SPEC.replace("epochs 2", "epochs 100000"), "d.csv": CSV}
    )
    time.sleep(delay)
    ours = handlers_installed(proc.pid)
    proc.send_signal(sig)
    stdout, stderr = finish(proc)
    # The interpreter starts in well under 0.1 s; by 0.4 s a run without handlers has none.
    assert ours or delay < 0.4, "no handlers 0.4 s after start"
    if ours:
        assert_interrupted(tmp_path, proc, stdout, stderr)
    else:
        assert not (tmp_path / "run").exists() and not list(tmp_path.rglob("*.tmp"))


# --- (b) mid-epoch ---------------------------------------------------------------------------


def start_long_run(tmp: Path):
    """A run that is in its second epoch when this returns (the first epoch's line is out)."""
    proc = spawn(tmp, TRAIN, {"m.stack": LONG_SPEC, "d.csv": LONG_CSV})
    deadline = time.monotonic() + 120
    line = ""
    while not line.startswith("epoch 1/"):
        assert time.monotonic() < deadline, "no progress line"
        line = proc.stderr.readline()
        assert line or proc.poll() is None, "the run ended early"
    return proc


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_signal_mid_epoch_saves_the_work_and_exits_130(tmp_path, sig):
    proc = start_long_run(tmp_path)
    proc.send_signal(sig)
    stdout, stderr = finish(proc)
    assert proc.returncode == 130, stderr
    assert f"interrupted ({sig.name})" in stderr and "Traceback" not in stdout + stderr
    assert "wrote run/" in stdout
    assert_whole_or_absent(tmp_path)
    assert (tmp_path / "run").exists()


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_second_signal_mid_epoch_stops_at_once(tmp_path, sig):
    """The second signal does not wait for the batch: it lands in training or in the writing
    that the first one started; either way exit 130 and --out whole or absent."""
    proc = start_long_run(tmp_path)
    proc.send_signal(sig)
    proc.send_signal(sig)
    stdout, stderr = finish(proc)
    assert_interrupted(tmp_path, proc, stdout, stderr)


# --- (c) while writing -----------------------------------------------------------------------

DRIVER = """
import os, signal, sys
from pathlib import Path

SIG, WHERE = getattr(signal, sys.argv[1]), sys.argv[2]
sys.argv = ["stackspec", *sys.argv[3:]]
import stackspec.training.weights

if WHERE == "write":  # after the weights are written into the temp folder
    save = stackspec.training.weights.save_weights

    def save_weights(*args, **kwargs):
        save(*args, **kwargs)
        os.kill(os.getpid(), SIG)

    stackspec.training.weights.save_weights = save_weights
else:  # at the first rename that moves an output out of the temp folder into --out
    replace = os.replace

    def moving(src, dst, *args, **kwargs):
        if not moving.sent and not any(p.endswith(".tmp") for p in Path(dst).parts):
            moving.sent = True
            os.kill(os.getpid(), SIG)
        return replace(src, dst, *args, **kwargs)

    moving.sent = False
    os.replace = moving

from stackspec.__main__ import main

main()
"""


def old_run(tmp: Path) -> dict[str, str]:
    """An earlier run's folder, each file holding its own name."""
    (tmp / "run").mkdir()
    for name in FILES:
        (tmp / "run" / name).write_text(f"old {name}\n")
    return {name: f"old {name}\n" for name in FILES}


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
@pytest.mark.parametrize("existing", [False, True], ids=["new", "existing"])
def test_signal_while_writing_leaves_out_as_it_was(tmp_path, sig, existing):
    old = old_run(tmp_path) if existing else None
    args = [sig.name, "write", *TRAIN]
    proc = spawn(tmp_path, args, {"m.stack": SPEC, "d.csv": CSV}, driver=DRIVER)
    stdout, stderr = finish(proc)
    assert_interrupted(tmp_path, proc, stdout, stderr)
    assert "wrote" not in stdout
    if existing:
        assert {p.name: p.read_text() for p in (tmp_path / "run").iterdir()} == old
    else:
        assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
@pytest.mark.parametrize("existing", [False, True], ids=["new", "existing"])
def test_signal_while_moving_into_out_completes_the_move(tmp_path, sig, existing):
    if existing:
        old_run(tmp_path)
    args = [sig.name, "commit", *TRAIN]
    proc = spawn(tmp_path, args, {"m.stack": SPEC, "d.csv": CSV}, driver=DRIVER)
    stdout, stderr = finish(proc)
    assert_interrupted(tmp_path, proc, stdout, stderr)
    assert (tmp_path / "run" / "spec.stack").read_text() == SPEC  # every file is the new one
    assert (tmp_path / "run" / "history.csv").read_text().startswith("epoch,loss,val_loss\n")


# --- the pieces, in-process ------------------------------------------------------------------


def test_deferred_holds_a_signal_until_the_block_ends():
    from stackspec.interrupts import deferred

    done = []
    with pytest.raises(KeyboardInterrupt), deferred():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.01)  # the handler would have run by now
        done.append(True)
    assert done == [True]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back


def test_deferred_without_a_signal_changes_nothing():
    from stackspec.interrupts import deferred

    before = {s: signal.getsignal(s) for s in SIGNALS}
    with deferred():
        pass
    assert {s: signal.getsignal(s) for s in SIGNALS} == before


def test_a_python_warning_reaches_the_terminal_as_one_line(tmp_path):
    """The CLI's warnings: `warning: MSG`, never a file name and a source line of ours."""
    code = (
        "import sys, warnings\n"
        "sys.argv = ['stackspec', 'check', 'm.stack']\n"
        "import stackspec.compiler.pipeline as c\n"
        "original = c.compile_source\n"
        "def noisy(*a, **k):\n"
        "    warnings.warn('overflow encountered in matmul', RuntimeWarning)\n"
        "    return original(*a, **k)\n"
        "c.compile_source = noisy\n"
        "from stackspec.__main__ import main\n"
        "main()\n"
    )
    (tmp_path / "m.stack").write_text(SPEC)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "warning: overflow encountered in matmul\n"


# --- (d) a KeyboardInterrupt that Python swallowed ---------------------------------------------


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_swallowed_interrupt_still_stops_training(monkeypatch):
    """Raised inside a weakref callback (as the import machinery's module locks have, during
    start-up), the KeyboardInterrupt of our handler is printed and ignored by Python. The
    signal still counts: the training loop stops at once, and the CLI exits 130 after it."""
    import gc
    import weakref

    import numpy as np

    import stackspec
    from stackspec import interrupts

    monkeypatch.setattr(interrupts, "_interrupted", False)

    class Thing:
        pass

    thing = Thing()
    ref = weakref.ref(thing, lambda r: interrupts._interrupt(signal.SIGTERM, None))
    del thing
    gc.collect()  # the callback ran; its KeyboardInterrupt went nowhere
    assert ref() is None and interrupts.swallowed() == "SIGTERM"
    model = stackspec.parse("input 2\ndense 1\ntrain {\n  epochs 50\n  batch 2\n}\n").compile()
    X = np.arange(40, dtype=np.float32).reshape(20, 2)
    history = model.fit(X, X[:, 0], verbose=0)
    assert history.stop_reason == "interrupted" and len(history["loss"]) == 0


SWALLOWING_DRIVER = """
import gc, signal, sys, weakref
from stackspec import interrupts

sys.argv = ["stackspec", *sys.argv[1:]]
interrupts.install()


class Thing:
    pass


thing = Thing()
ref = weakref.ref(thing, lambda r: interrupts._interrupt(signal.SIGTERM, None))
del thing
gc.collect()  # Python swallows the KeyboardInterrupt raised in the callback

from stackspec.__main__ import main

main()
"""


def test_a_swallowed_interrupt_exits_130_from_the_cli(tmp_path):
    files = {"m.stack": SPEC.replace("epochs 2", "epochs 100000"), "d.csv": CSV}
    proc = spawn(tmp_path, TRAIN, files, driver=SWALLOWING_DRIVER)
    stdout, stderr = finish(proc)
    assert_interrupted(tmp_path, proc, stdout, stderr)
