"""Quality, not speed: the red-wine lesson's min val MAE over several seeds, on the lesson's fixed
split, for docs/results.md.

The split is the lesson's `df.sample(frac=0.7, random_state=0)`, i.e. the first 1,119 indices of
`np.random.RandomState(0).permutation(1599)` train and the rest validate, so the seeds change the
initial weights, the batch order and the dropout masks only. Prints one line per seed and the
mean ± sample standard deviation of the min val MAE per backend.

    python benchmarks/quality_red_wine.py --seeds 10 --backend numpy --backend torch
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

import stackspec
from stackspec.training.data import read_csv

ROOT = Path(__file__).resolve().parent.parent


def lesson_split(n: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.RandomState(0).permutation(n)
    cut = round(n * 0.7)
    return order[:cut], order[cut:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--backend", action="append", choices=["numpy", "torch"])
    args = parser.parse_args()
    spec = stackspec.load(ROOT / "specs" / "red_wine.stack")
    data = read_csv(ROOT / "data" / "red-wine.csv", spec.ir, "quality")
    train, valid = lesson_split(len(data.X))
    for backend in args.backend or ["numpy"]:
        if backend == "torch":
            import torch

            torch.set_num_threads(2)
        best = []
        for seed in range(args.seeds):
            options = {"device": "cpu"} if backend == "torch" else {}
            model = spec.compile(backend, seed=seed, **options)
            started = time.perf_counter()
            history = model.fit(
                data.X[train],
                data.y[train],
                validation_data=(data.X[valid], data.y[valid]),
                seed=seed,
                verbose=0,
            )
            val = history["val_loss"]
            epoch = int(np.argmin(val)) + 1
            best.append(min(val))
            print(
                f"{backend} seed {seed}: min val MAE {min(val):.4f} (epoch {epoch}), "
                f"final {val[-1]:.4f}, {time.perf_counter() - started:.1f}s",
                flush=True,
            )
        sd = statistics.stdev(best) if len(best) > 1 else 0.0
        print(
            f"{backend}: min val MAE {statistics.mean(best):.4f} ± {sd:.4f} over "
            f"{len(best)} seeds (range {min(best):.4f}-{max(best):.4f})"
        )


if __name__ == "__main__":
    main()
