"""One training step of the red-wine model: NumpyModel vs the same model hand-written in PyTorch.

    python benchmarks/bench_step.py [--steps 100] [--warmup 20] [--rounds 5]

specs/red_wine.stack (3 x [dense 1024 relu | dropout 0.3 | batchnorm] + dense 1, MAE loss,
Adam lr=1e-3), batch 256. A step is forward, backward and the Adam update. The torch model is
written by hand (nn.Sequential, torch.optim.Adam(eps=1e-7), L1 loss, 2 threads), as a user would.
Blocks of steps of the two alternate, so both see the same machine load; medians and 10th
percentiles are reported.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

import stackspec
from stackspec.backends.numpy import NumpyModel

sys.path.insert(0, str(Path(__file__).resolve().parent))
import handwritten_torch  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BATCH = 256


def numpy_step(spec):
    model = NumpyModel(spec)
    model._begin_training(spec.ir.train)
    return lambda x, y: model._train_step(x, y)


def torch_step(torch):
    """The hand-written model's step (benchmarks/handwritten_torch.py), on host arrays."""
    step, _, _ = handwritten_torch.build(torch, torch.device("cpu"))
    return step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(2)
    torch.manual_seed(0)
    spec = stackspec.load(ROOT / "specs" / "red_wine.stack")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, 11)).astype(np.float32)
    y = (rng.standard_normal(BATCH) + 5.6).astype(np.float32)
    steps = {"numpy": (numpy_step(spec), x, y), "torch": (torch_step(torch), x, y)}
    for step, xs, ys in steps.values():
        for _ in range(args.warmup):
            step(xs, ys)
    # Blocks of steps alternate between the two; the first step after a switch is not
    # timed, because the other library's worker threads may still be spinning then.
    times: dict[str, list[float]] = {name: [] for name in steps}
    block = max(2, args.steps // args.rounds)
    for _ in range(args.rounds):
        for name, (step, xs, ys) in steps.items():
            step(xs, ys)
            for _ in range(block):
                start = time.perf_counter()
                step(xs, ys)
                times[name].append(time.perf_counter() - start)

    med = {name: statistics.median(t) * 1e3 for name, t in times.items()}
    # The 10th percentile is robust to bursts of load from other processes on a shared machine.
    p10 = {name: statistics.quantiles(t, n=10)[0] * 1e3 for name, t in times.items()}
    print(
        f"numpy {np.__version__}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
    )
    n = len(times["numpy"])
    print(f"red-wine training step, batch {BATCH}, {n} timed steps each after {args.warmup}:")
    print(f"  {'':6s} {'median':>9s} {'p10':>9s}")
    for name in times:
        print(f"  {name:6s} {med[name]:6.2f} ms {p10[name]:6.2f} ms")
    print(
        f"  ratio numpy/torch: median {med['numpy'] / med['torch']:.2f}, "
        f"p10 {p10['numpy'] / p10['torch']:.2f}"
    )


if __name__ == "__main__":
    main()
