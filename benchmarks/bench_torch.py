"""The compiled torch model vs the same model written by hand, and NumPy vs torch, in one run.

    python benchmarks/bench_torch.py [--device cpu|cuda|auto] [--steps 60] [--fit-epochs 10]
                                     [--repeats 5] [--full-epochs 100] [--skip-full]

Model: specs/red_wine.stack (3 x [dense 1024 relu | dropout 0.3 | batchnorm] + dense 1, MAE,
Adam lr=1e-3), batch 256, on data/red-wine.csv (1599 rows).

1. step: one training step on a host (NumPy) batch. Compiled: `TorchModel._train_step`. By hand:
   nn.Sequential of the same modules, torch.optim.Adam(eps=1e-7), L1 loss, the batch moved to
   the device and `loss.item()` read, as a user's loop does. Steps alternate; medians.
2. fit: `model.fit(X, y, epochs=E)` vs a hand-written loop (a permutation per epoch, the same
   batches, loss.item() per step). Runs alternate; medians of `--repeats`.
3. NumPy/torch: `NumpyModel._train_step` vs the compiled torch step, one block each; and
   `NumpyModel.fit` vs the hand-written loop on 2 CPU threads (issue 3's fit goal).
4. Full runs: `stackspec train ... --epochs 100` for each backend in a fresh process (the CLI
   path: CSV reading, validation split, history, curves), and the hand-written loop's whole run
   (benchmarks/handwritten_torch.py: CSV, split, validation per epoch); wall time and the
   child's peak RSS.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import stackspec

sys.path.insert(0, str(Path(__file__).resolve().parent))
import handwritten_torch  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "red_wine.stack"
DATA = ROOT / "data" / "red-wine.csv"
BATCH = 256


def hand_written(torch, device):
    """The red-wine model as a user writes it (benchmarks/handwritten_torch.py)."""
    step, fit, _ = handwritten_torch.build(torch, device)
    return step, fit


def sync(torch, device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def alternate(fns: dict, runs: int, warmup: int) -> dict[str, float]:
    """Median seconds of each zero-argument callable, run in turns so load hits all alike."""
    times = {name: [] for name in fns}
    for i in range(warmup + runs):
        for name, fn in fns.items():
            t = timed(fn)
            if i >= warmup:
                times[name].append(t)
    return {name: statistics.median(ts) for name, ts in times.items()}


def blocks(fns: dict, runs: int, warmup: int) -> dict[str, float]:
    """Median seconds of each callable, one after the other: in turns, NumPy's BLAS threads
    would still be spinning when torch's start, and the other way round."""
    out = {}
    for name, fn in fns.items():
        times = [timed(fn) for _ in range(warmup + runs)][warmup:]
        out[name] = statistics.median(times)
    return out


# Started from a fresh interpreter: a child forked from this process (torch and a CUDA context
# loaded) would report this process's resident pages as its own peak (Linux keeps the maximum
# across exec).
LAUNCHER = """
import os, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
_, status, usage = os.wait4(proc.pid, 0)
wall = time.perf_counter() - start
if os.waitstatus_to_exitcode(status):
    sys.exit(proc.stderr.read().decode())
print(wall, usage.ru_maxrss / 1024)  # Linux reports KiB
"""


def full_run(backend: str, epochs: int, device: str) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of `stackspec train` in a fresh process."""
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "stackspec", "train", str(SPEC), "--data", str(DATA)]
        cmd += ["--target", "quality", "--epochs", str(epochs), "--backend", backend]
        cmd += ["--out", os.path.join(out, "run")]
        if backend == "torch":
            cmd += ["--device", device]
        return launch(cmd)


def launch(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of `cmd`, started from a fresh launcher process."""
    done = subprocess.run(
        [sys.executable, "-c", LAUNCHER, *cmd], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"{cmd[2:4]} failed: {done.stderr}")
    wall, rss = map(float, done.stdout.split())
    return wall, rss


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--fit-epochs", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--full-epochs", type=int, default=100)
    ap.add_argument("--skip-full", action="store_true", help="skip the 100-epoch CLI runs")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    spec = stackspec.load(SPEC)
    compiled = spec.compile("torch", device=args.device)
    device = compiled.device
    table = np.loadtxt(DATA, delimiter=",", skiprows=1, dtype=np.float32)
    X, y = np.ascontiguousarray(table[:, :-1]), np.ascontiguousarray(table[:, -1])
    xb, yb = X[:BATCH].copy(), y[:BATCH].copy()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"device: {device} ({name}), torch {torch.__version__}, threads {args.threads}")

    torch.manual_seed(0)
    hand_step, hand_fit = hand_written(torch, device)
    compiled._begin_training(spec.ir.train)

    def step_of(fn):
        return lambda: (fn(xb, yb), sync(torch, device))

    steps = alternate(
        {"compiled": step_of(compiled._train_step), "hand": step_of(hand_step)},
        args.steps,
        args.warmup,
    )
    print(
        f"step  (batch {BATCH}): compiled {steps['compiled'] * 1e3:8.2f} ms   "
        f"hand-written {steps['hand'] * 1e3:8.2f} ms   "
        f"ratio {steps['compiled'] / steps['hand']:.3f}"
    )

    epochs = args.fit_epochs
    fits = alternate(
        {
            "compiled": lambda: (compiled.fit(X, y, epochs=epochs, verbose=0), sync(torch, device)),
            "hand": lambda: (hand_fit(X, y, epochs), sync(torch, device)),
        },
        args.repeats,
        1,
    )
    print(
        f"fit   ({epochs} epochs): compiled {fits['compiled']:8.3f} s    "
        f"hand-written {fits['hand']:8.3f} s    ratio {fits['compiled'] / fits['hand']:.3f}"
    )

    numpy_model = spec.compile("numpy")
    numpy_model._begin_training(spec.ir.train)
    both = blocks(
        {"numpy": step_of(numpy_model._train_step), "torch": step_of(compiled._train_step)},
        max(args.steps // 3, 5),
        3,
    )
    print(
        f"step  numpy {both['numpy'] * 1e3:8.2f} ms   torch {both['torch'] * 1e3:8.2f} ms   "
        f"numpy/torch {both['numpy'] / both['torch']:.2f}"
    )
    # NumPy's fit against the hand-written loop on the CPU, whatever --device says.
    _, cpu_fit = hand_written(torch, torch.device("cpu"))
    fits = blocks(
        {
            "numpy": lambda: numpy_model.fit(X, y, epochs=epochs, verbose=0),
            "hand": lambda: cpu_fit(X, y, epochs),
        },
        args.repeats,
        1,
    )
    print(
        f"fit   ({epochs} epochs): numpy {fits['numpy']:8.3f} s    "
        f"hand-written torch (cpu) {fits['hand']:8.3f} s    "
        f"numpy/torch {fits['numpy'] / fits['hand']:.2f}"
    )

    if not args.skip_full:
        for backend in ("numpy", "torch"):
            wall, rss = full_run(backend, args.full_epochs, str(device.type))
            print(
                f"train {args.full_epochs} epochs ({backend:5}): wall {wall:7.1f} s   "
                f"peak RSS {rss:7.0f} MiB"
            )
        wall, rss = launch(
            [
                sys.executable,
                str(Path(__file__).with_name("handwritten_torch.py")),
                "--epochs",
                str(args.full_epochs),
                "--device",
                str(device.type),
                "--threads",
                str(args.threads),
            ]
        )
        print(
            f"hand-written torch {args.full_epochs} epochs: wall {wall:7.1f} s   "
            f"peak RSS {rss:7.0f} MiB"
        )


if __name__ == "__main__":
    main()
