"""The red-wine model written by hand in PyTorch: the baseline every benchmark compares against.

    python benchmarks/handwritten_torch.py [--epochs 100] [--device cpu|cuda] [--threads 2]

As a user of the lesson would write it: nn.Sequential of Linear/ReLU/Dropout(0.3)/BatchNorm1d x3
and a final Linear, torch.optim.Adam(lr=1e-3, eps=1e-7), L1 loss, batch 256, a permutation per
epoch, `loss.item()` per step. Run as a script it does a whole training run like `stackspec
train` (CSV, seeded 70/30 split, validation MAE per epoch) so that wall time and peak RSS can be
compared process to process; the benchmarks import `build` for step and fit timings.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent.parent / "data" / "red-wine.csv"
BATCH = 256


def build(torch, device):
    """(step, fit, model): a training step on host arrays, a fit loop over epochs, the module."""
    nn = torch.nn
    layers, width = [], 11
    for _ in range(3):
        layers += [
            nn.Linear(width, 1024),
            nn.ReLU(),
            nn.Dropout(0.3),
            nn.BatchNorm1d(1024, eps=1e-3, momentum=0.01),  # torch momentum = 1 - Keras's 0.99
        ]
        width = 1024
    model = nn.Sequential(*layers, nn.Linear(1024, 1)).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)

    def step(x, y):
        xb, yb = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
        loss = nn.functional.l1_loss(model(xb).squeeze(1), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    def fit(X, y, epochs, seed=0, validation=None):
        rng = np.random.default_rng(seed)
        history = []
        for _ in range(epochs):
            model.train()
            order = rng.permutation(len(X))
            total = 0.0
            for start in range(0, len(X), BATCH):
                idx = order[start : start + BATCH]
                total += step(X[idx], y[idx]) * len(idx)
            if validation is not None:
                model.eval()
                with torch.no_grad():
                    xv = torch.from_numpy(validation[0]).to(device)
                    pred = model(xv).squeeze(1).cpu().numpy()
                history.append(float(np.abs(pred - validation[1]).mean()))
        return history

    return step, fit, model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    start = time.perf_counter()
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    table = np.loadtxt(DATA, delimiter=",", skiprows=1, dtype=np.float32)
    X, y = np.ascontiguousarray(table[:, :-1]), np.ascontiguousarray(table[:, -1])
    order = np.random.default_rng(args.seed).permutation(len(X))
    cut = int(round(0.7 * len(X)))
    train, valid = order[:cut], order[cut:]
    _, fit, _ = build(torch, torch.device(args.device))
    history = fit(X[train], y[train], args.epochs, args.seed, (X[valid], y[valid]))
    print(
        f"hand-written torch: {args.epochs} epochs in {time.perf_counter() - start:.1f} s, "
        f"min val MAE {min(history):.4f}"
    )


if __name__ == "__main__":
    main()
