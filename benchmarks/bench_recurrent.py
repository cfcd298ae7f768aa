"""A training step of the GRU regressor and of its LSTM variant: NumpyModel vs hand-written torch.

    python benchmarks/bench_recurrent.py [--steps 60] [--warmup 10] [--rounds 3] [--batch 64]
                                         [--units 32] [--time-steps 24] [--threads 2]

Model: specs/gru_regressor.stack (`input 24x1`, `gru 32`, `dense 16 relu`, `dense 1`, MSE,
Adam lr=3e-3), and the same with `lstm` in place of `gru`; --units and --time-steps change the
recurrent layer's width and the sequence length. The torch model is written by hand as a user
would: nn.GRU/nn.LSTM(batch_first=True), the last step's output, Linear-ReLU-Linear,
torch.optim.Adam(eps=1e-7), MSE loss, torch.set_num_threads(--threads).

A step is forward, backward and the Adam update. Each step is also timed in its parts: the
training forward (NumPy: `logits(x, True)`, which keeps what the backward needs; torch: the
forward with autograd recording) and the backward (NumPy: the loss gradient and the backprop
closure; torch: `loss.backward()`), so the recurrent backward's ratio (issue 12's goal: NumPy
not slower than 3x torch on CPU) is printed on its own. Blocks of steps alternate between the
libraries, the first step of each block untimed; medians and 10th percentiles.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np

import stackspec
from stackspec.backends.numpy import NumpyModel
from stackspec.numerics import loss_and_grad

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "gru_regressor.stack"
PARTS = ("step", "forward", "backward")


def spec_text(kind: str, units: int, steps: int) -> str:
    text = SPEC.read_text()
    for old, new in (("gru 32", f"{kind} {units}"), ("input 24x1", f"input {steps}x1")):
        if old not in text:
            raise SystemExit(f"{SPEC} no longer contains {old!r}: update this benchmark")
        text = text.replace(old, new)
    return text


def numpy_step(kind: str, units: int, steps: int):
    return numpy_parts(stackspec.parse(spec_text(kind, units, steps)))


def numpy_parts(spec):
    """A NumpyModel's training step timed in its parts: (forward, backward, whole step)."""
    model = NumpyModel(spec)
    train = spec.ir.train
    model._begin_training(train)
    opt = model._optimizer

    def step(x, y, clock):
        t0 = clock()
        out, backprop = model.logits(x, True)
        t1 = clock()
        _, dout = loss_and_grad(train["loss"], out, y, None)
        backprop(dout)
        t2 = clock()
        opt.step()
        return t1 - t0, t2 - t1, clock() - t0

    return step


def torch_step(torch, kind: str, units: int):
    nn = torch.nn
    cell = {"gru": nn.GRU, "lstm": nn.LSTM}[kind](1, units, batch_first=True)
    head = nn.Sequential(nn.Linear(units, 16), nn.ReLU(), nn.Linear(16, 1))
    params = list(cell.parameters()) + list(head.parameters())

    def loss_of(xb, yb):
        seq, _ = cell(xb)
        return nn.functional.mse_loss(head(seq[:, -1]).squeeze(1), yb)

    return torch_parts(torch, loss_of, params)


def torch_parts(torch, loss_of, params):
    """A hand-written torch step timed in its parts, (forward, backward, whole step): the
    forward is `loss_of(x, y)`, the update torch.optim.Adam(lr=3e-3, eps=1e-7) as Keras's."""
    opt = torch.optim.Adam(params, lr=3e-3, eps=1e-7)

    def step(x, y, clock):
        xb, yb = torch.from_numpy(x), torch.from_numpy(y)
        t0 = clock()
        loss = loss_of(xb, yb)
        t1 = clock()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        t2 = clock()
        opt.step()
        loss.item()
        return t1 - t0, t2 - t1, clock() - t0

    return step


def measure(steps: dict, x, y, args) -> dict[str, dict[str, list[float]]]:
    clock = time.perf_counter
    for step in steps.values():
        for _ in range(args.warmup):
            step(x, y, clock)
    times = {name: {part: [] for part in PARTS} for name in steps}
    block = max(2, args.steps // args.rounds)
    for _ in range(args.rounds):
        for name, step in steps.items():
            step(x, y, clock)  # the other library's threads may still be spinning
            for _ in range(block):
                for part, t in zip(("forward", "backward", "step"), step(x, y, clock), strict=True):
                    times[name][part].append(t)
    return times


def report(kind: str, times: dict) -> None:
    med = {
        n: {p: statistics.median(ts) * 1e3 for p, ts in parts.items()} for n, parts in times.items()
    }
    p10 = {
        n: {p: statistics.quantiles(ts, n=10)[0] * 1e3 for p, ts in parts.items()}
        for n, parts in times.items()
    }
    print(f"{kind}:  {'':9s} {'numpy':>9s} {'torch':>9s}  ratio (median; p10)")
    for part in PARTS:
        a, b = med["numpy"][part], med["torch"][part]
        r10 = p10["numpy"][part] / p10["torch"][part]
        print(f"  {part:14s} {a:6.2f} ms {b:6.2f} ms  {a / b:5.2f}; {r10:.2f}")


def step_arguments(doc: str) -> argparse.ArgumentParser:
    """The options of a step benchmark (this one's and bench_transformer.py's)."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    return ap


def start_torch(args):
    """torch with --threads and seed 0, after printing the versions, threads and load."""
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(
        f"numpy {np.__version__}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
    )
    return torch


def main() -> None:
    ap = step_arguments(__doc__)
    ap.add_argument("--units", type=int, default=32)
    ap.add_argument("--time-steps", type=int, default=24)
    args = ap.parse_args()

    torch = start_torch(args)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.batch, args.time_steps, 1)).astype(np.float32)
    y = rng.standard_normal(args.batch).astype(np.float32)
    print(
        f"batch {args.batch}, input {args.time_steps}x1, {args.units} units, "
        f"{args.steps} timed steps each after {args.warmup}"
    )
    for kind in ("gru", "lstm"):
        steps = {
            "numpy": numpy_step(kind, args.units, args.time_steps),
            "torch": torch_step(torch, kind, args.units),
        }
        report(kind, measure(steps, x, y, args))


if __name__ == "__main__":
    main()
