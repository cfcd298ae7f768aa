"""Data-parallel training throughput: `stackspec train --backend torch --nproc N` for N = 1, 2
(and every GPU when CUDA is there), examples per second and the efficiency ratio.

    python benchmarks/bench_ddp.py [--epochs 3] [--repeats 2] [--rows 20000] [--device cpu]

Workloads: specs/red_wine_plain.stack (3 x dense 1024 relu + dense 1, MAE, batch 256) on
data/red-wine.csv (1599 rows, 1119 for training), and the same model on a generated CSV of
`--rows` rows x 11 features (a larger dataset, so that per-epoch overheads weigh less).
Each figure is the training time that rank 0 reports (`done: E epochs in S s`: the epochs
only, no start-up, rendezvous or CSV reading); examples/s = training rows * epochs / S;
efficiency = (examples/s with N workers) / (N * examples/s with 1). Runs alternate (1, N, 1,
N, ...) so that a change of machine load hits both; medians of `--repeats`. `uptime`'s load
average is printed with the figures.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DONE = re.compile(r"done: (\d+) epochs in ([\d.]+)s")


def generated(folder: Path, rows: int) -> str:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, 11)).astype(np.float32)
    y = X @ rng.normal(size=11) + 0.1 * rng.normal(size=rows)
    path = folder / "generated.csv"
    header = ",".join(f"x{i}" for i in range(11)) + ",quality"
    np.savetxt(path, np.column_stack((X, y)), delimiter=",", header=header, comments="", fmt="%.5f")
    return str(path)


def train_seconds(data: str, nproc: int, epochs: int, device: str, out: Path) -> float:
    args = [sys.executable, "-m", "stackspec", "train", str(ROOT / "specs/red_wine_plain.stack")]
    args += ["--data", data, "--target", "quality", "--backend", "torch", "--device", device]
    args += ["--epochs", str(epochs), "--out", str(out), "--force", "--nproc", str(nproc)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(args, capture_output=True, text=True, env=env, check=True)
    found = DONE.search(done.stderr)
    if found is None:
        raise RuntimeError(done.stderr[-2000:])
    return float(found[2])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--device", default="cpu")
    a = parser.parse_args()
    import torch

    counts = [1, 2]
    if a.device != "cpu" and torch.cuda.device_count() > 2:
        counts.append(torch.cuda.device_count())
    print(f"load average before: {os.getloadavg()}; device {a.device}; torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        workloads = {
            "red-wine (1119 training rows)": (str(ROOT / "data/red-wine.csv"), 1119),
            f"generated ({int(a.rows * 0.7)} training rows)": (
                generated(tmp, a.rows),
                a.rows - int(round(a.rows * 0.3)),
            ),
        }
        for name, (data, n_train) in workloads.items():
            times: dict[int, list[float]] = {n: [] for n in counts}
            for _ in range(a.repeats):
                for n in counts:
                    times[n].append(train_seconds(data, n, a.epochs, a.device, tmp / f"run{n}"))
            base = n_train * a.epochs / statistics.median(times[1])
            print(f"\n{name}, {a.epochs} epochs, medians of {a.repeats}:")
            for n in counts:
                rate = n_train * a.epochs / statistics.median(times[n])
                ratio = rate / (n * base)
                print(f"  {n} worker(s): {rate:9.0f} examples/s  efficiency {ratio:.2f}")
    print(f"\nload average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
