"""Training step time of the torch backend in float32, bfloat16 and float16 (and, with
--compile, through torch.compile), in one run.

    python benchmarks/bench_precision.py [--device cpu|cuda|auto] [--steps 40] [--blocks 5]
                                         [--threads 2] [--precisions 32,bf16,16] [--compile]

Model: specs/red_wine.stack (3 x [dense 1024 relu | dropout 0.3 | batchnorm] + dense 1, MAE,
Adam lr=1e-3, 2.1 M parameters), batch 256, on data/red-wine.csv. A step is
`TorchModel._train_step` on a host batch (forward under autocast, float32 loss, backward, Adam
on the float32 master weights; float16 through the GradScaler), the batches the same for every
setting. The settings alternate in blocks of --steps steps (after one warm-up block each), so
a loaded machine weighs on all of them alike; the figure is the median block's time per step,
and the ratio is float32's over each setting's (above 1: faster than float32).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np

import stackspec
from stackspec.training.fit_settings import resolve_settings

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "red_wine.stack"
DATA = ROOT / "data" / "red-wine.csv"
BATCH = 256


def data():
    table = np.loadtxt(DATA, delimiter=",", skiprows=1, dtype=np.float32)
    return np.ascontiguousarray(table[:, :-1]), np.ascontiguousarray(table[:, -1])


def model_for(spec, device, precision, compile_):
    model = spec.compile("torch", device=device)
    model._check_training(precision, compile_)  # refused in words, as the CLI does
    model._begin_training(resolve_settings(spec.ir.train, precision=precision, compile=compile_))
    model._set_lr(1e-3)
    return model


def block(torch, model, batches) -> float:
    """Seconds per step over `batches`, the device synchronized at both ends."""
    sync = torch.cuda.synchronize if model.device.type == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    for xb, yb in batches:
        model._train_step(xb, yb)
    sync()
    return (time.perf_counter() - start) / len(batches)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--blocks", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--precisions", default="32,bf16,16")
    ap.add_argument("--compile", action="store_true", help="also each precision compiled")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    spec = stackspec.load(SPEC)
    X, y = data()
    rng = np.random.default_rng(0)
    batches = [
        (X[idx], y[idx]) for idx in (rng.choice(len(X), BATCH, replace=False) for _ in range(8))
    ]
    batches = (batches * (args.steps // len(batches) + 1))[: args.steps]
    settings = [(p, False) for p in args.precisions.split(",")]
    if args.compile:
        settings += [(p, True) for p, _ in settings]
    models = {s: model_for(spec, args.device, *s) for s in settings}
    device = next(iter(models.values())).device
    times: dict = {s: [] for s in settings}
    for i in range(args.blocks + 1):
        for s, model in models.items():
            t = block(torch, model, batches)
            if i:  # the first block warms up (and compiles)
                times[s].append(t)
    load = os.getloadavg()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(
        f"red-wine train step, batch {BATCH}, {name}, {args.threads} threads, torch "
        f"{torch.__version__}; {args.blocks} blocks of {args.steps} steps; load average "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    base = statistics.median(times[("32", False)]) if ("32", False) in times else None
    for (precision, compiled), ts in times.items():
        median = statistics.median(ts)
        ratio = f"  x{base / median:.2f} vs float32" if base else ""
        label = f"{precision}{' compiled' if compiled else ''}"
        print(f"  {label:14s} {median * 1e3:8.2f} ms/step  (min {min(ts) * 1e3:.2f}){ratio}")


if __name__ == "__main__":
    main()
