"""Inference (issue 16): `stackspec predict` on a generated 1,000,000-row CSV, rows per second and
peak memory, NumPy and torch backends, against the hand-written PyTorch model's batched
inference (benchmarks/handwritten_torch.py's model) in the same run.

    python benchmarks/bench_predict.py [--rows 1000000] [--rounds 1]

The CSV has red-wine-like columns (11 features on their own scales, and `quality`); the model
is specs/red_wine.stack with freshly initialised weights (inference costs the same whatever
the values). Each reader runs as a fresh process, timed as a whole (start-up, reading, the
model, writing the predictions) with its peak RSS from wait4; the data is written by a child
process too, so that this process stays small (a child's ru_maxrss starts from its parent's
RSS at the fork). The hand-written script reads the CSV with pandas.read_csv (as its user
would; np.loadtxt is 10x slower), predicts in batches of 256 (the spec's batch, which
stackspec predicts in) under torch.no_grad, and writes the predictions with 9 digits, as
stackspec does. `input 11 | dense 1` measures reading, encoding and writing alone, on the file
and on a quarter of it: with prediction in chunks, its peak RSS should not grow with the file.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "red_wine.stack"
# Means and standard deviations of data/red-wine.csv's columns, for plausible values.
COLUMNS = {
    "fixed acidity": (8.32, 1.74),
    "volatile acidity": (0.53, 0.18),
    "citric acid": (0.27, 0.19),
    "residual sugar": (2.54, 1.41),
    "chlorides": (0.087, 0.047),
    "free sulfur dioxide": (15.9, 10.5),
    "total sulfur dioxide": (46.5, 32.9),
    "density": (0.9967, 0.0019),
    "pH": (3.31, 0.15),
    "sulphates": (0.66, 0.17),
    "alcohol": (10.4, 1.07),
    "quality": (5.64, 0.81),
}
MAKE = """
import sys
import numpy as np
import stackspec
rows, path = int(sys.argv[1]), sys.argv[2]
columns = {columns!r}
rng = np.random.default_rng(0)
mean = np.array([m for m, _ in columns.values()])
std = np.array([s for _, s in columns.values()])
header = ",".join(f'"{{c}}"' for c in columns)
with open(path, "w") as f:
    f.write(header + "\\n")
    for start in range(0, rows, 100_000):
        n = min(100_000, rows - start)
        block = np.abs(rng.standard_normal((n, len(columns))) * std + mean)
        np.savetxt(f, block, fmt="%.5g", delimiter=",")
for spec, weights in zip(sys.argv[3::2], sys.argv[4::2]):
    stackspec.load(spec).compile("numpy", seed=0).save(weights)
"""
# Reading and writing alone: a model that costs next to nothing, on the file and a quarter of it.
TINY = "input 11\ndense 1\ntrain {\n  loss mae\n  batch 256\n}\n"
HANDWRITTEN = """
import sys
sys.path.insert(0, {bench!r})
import numpy as np, pandas, torch
from handwritten_torch import build
torch.set_num_threads(2)
data, out = sys.argv[1], sys.argv[2]
X = pandas.read_csv(data).drop(columns=["quality"]).to_numpy(np.float32, copy=True)
_, _, model = build(torch, "cpu")
model.eval()
pred = np.empty(len(X), np.float32)
with torch.no_grad():
    for start in range(0, len(X), 256):
        batch = torch.from_numpy(X[start : start + 256])
        pred[start : start + 256] = model(batch).squeeze(1).numpy()
np.savetxt(out, pred, fmt="%.9g", header="prediction", comments="")
"""


def run(args: list[str]) -> tuple[float, int]:
    """(wall seconds, peak RSS in bytes) of a fresh process, from wait4."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    child = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"failed ({child.returncode}): {' '.join(args)}")
    return seconds, usage.ru_maxrss * 1024


def make(rows: int, path: Path, *specs_and_weights: Path) -> None:
    code = MAKE.format(columns=COLUMNS)
    run([sys.executable, "-c", code, str(rows), str(path), *map(str, specs_and_weights)])


def stackspec(backend: str, data: Path, weights: Path, out: Path, spec: Path = SPEC) -> list[str]:
    return [
        *(sys.executable, "-m", "stackspec", "predict", str(spec), "--weights", str(weights)),
        *("--data", str(data), "--target", "quality", "--backend", backend, "-o", str(out)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--model-rows",
        type=int,
        help="rows for the red-wine model's cases [default: --rows]; on a slow or loaded "
        "machine a part of the file, the reading cases still on all of it",
    )
    args = parser.parse_args()
    print(f"load average at the start: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        data, quarter, weights = folder / "big.csv", folder / "quarter.csv", folder / "w.st"
        model_rows = args.model_rows or args.rows
        model_data = folder / "model.csv" if model_rows != args.rows else data
        tiny, tiny_weights = folder / "tiny.stack", folder / "tiny.st"
        tiny.write_text(TINY)
        make(args.rows, data, SPEC, weights, tiny, tiny_weights)
        make(args.rows // 4, quarter)
        if model_data != data:
            make(model_rows, model_data)
        size = data.stat().st_size
        print(f"{args.rows} rows, {size / 1e6:.1f} MB; red_wine.stack on {model_rows} rows")
        hand = [sys.executable, "-c", HANDWRITTEN.format(bench=str(ROOT / "benchmarks"))]
        cases = {
            "stackspec predict, NumPy": stackspec("numpy", model_data, weights, folder / "p.csv"),
            "stackspec predict, torch": stackspec("torch", model_data, weights, folder / "p.csv"),
            "hand-written torch": [*hand, str(model_data), str(folder / "h.csv")],
            "`input 11 | dense 1`, NumPy": stackspec(
                "numpy", data, tiny_weights, folder / "t.csv", tiny
            ),
            "the same, a quarter of the rows": stackspec(
                "numpy", quarter, tiny_weights, folder / "q.csv", tiny
            ),
        }
        results = {name: [] for name in cases}
        for _ in range(args.rounds):  # interleaved: each round runs every case once
            for name, command in cases.items():
                results[name].append(run(command))
        base = min(s for s, _ in results["hand-written torch"])
        print(f"{'':32} {'time':>8} {'rows/s':>10} {'peak RSS':>9} {'time / hand-written':>20}")
        for name, measured in results.items():
            seconds = min(s for s, _ in measured)
            peak = max(p for _, p in measured)
            rows = (
                args.rows // 4 if "quarter" in name else args.rows if "11" in name else model_rows
            )
            print(
                f"{name:32} {seconds:7.2f}s {rows / seconds:10,.0f} {peak / 2**20:6.0f} MiB"
                f" {seconds / base:20.2f}"
            )
    print(f"load average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
