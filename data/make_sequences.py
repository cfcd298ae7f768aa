"""Write the synthetic sequence data sets that specs/seq_cnn.stack and specs/gru_regressor.stack
train on. Seeded: the same arguments write the same bytes.

    python data/make_sequences.py [--out data/generated] [--rows 2000] [--seed 0]

sines.csv (specs/seq_cnn.stack, `input 64x1`): columns t0..t63, then `label`. Each row is one
noisy sine, a*sin(2*pi*f*t/64 + phase) + N(0, 1), with f = 5, 6 or 7 cycles per window for
label 0, 1 or 2 (balanced), amplitude a in [0.5, 1.5] and the phase uniform, so neither the
level nor the start tells the class: only the period does.

ar.csv (specs/gru_regressor.stack, `input 24x1`): columns x0..x23, then `next`. Each row is a
window of a stationary AR(2) process x[t] = 1.6 x[t-1] - 0.8 x[t-2] + N(0, 1) (a damped
oscillation, period ~ 12 steps), rescaled to unit variance, and `next` is the value after the
window. The best possible predictor (the true AR(2) rule) leaves the innovation noise:
MSE = 1 / var(x) = 0.076; predicting the mean gives 1.0, repeating the last value 0.22.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

SINE_T, SINE_CYCLES, SINE_NOISE = 64, (5, 6, 7), 1.0
AR_T, AR_PHI, AR_BURN_IN = 24, (1.6, -0.8), 200


def sines(rng: np.random.Generator, rows: int) -> tuple[np.ndarray, np.ndarray]:
    labels = np.arange(rows) % len(SINE_CYCLES)
    rng.shuffle(labels)
    cycles = np.asarray(SINE_CYCLES, dtype=np.float64)[labels]
    amp = rng.uniform(0.5, 1.5, rows)
    phase = rng.uniform(0.0, 2 * np.pi, rows)
    t = np.arange(SINE_T) / SINE_T
    x = amp[:, None] * np.sin(2 * np.pi * cycles[:, None] * t[None, :] + phase[:, None])
    return x + rng.normal(0.0, SINE_NOISE, x.shape), labels


def ar_process(rng: np.random.Generator, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Independent windows (a fresh burn-in each), so a random validation split does not leak."""
    n = AR_BURN_IN + AR_T + 1
    eps = rng.normal(0.0, 1.0, (rows, n))
    x = np.zeros((rows, n))
    for t in range(2, n):
        x[:, t] = AR_PHI[0] * x[:, t - 1] + AR_PHI[1] * x[:, t - 2] + eps[:, t]
    window = x[:, AR_BURN_IN:]
    scale = window.std()
    return window[:, :AR_T] / scale, window[:, AR_T] / scale


def write_csv(path: Path, header: list[str], x: np.ndarray, y: np.ndarray, fmt: str) -> None:
    table = np.column_stack([x, y])
    fmts = [fmt] * x.shape[1] + ["%d" if y.dtype.kind == "i" else fmt]
    np.savetxt(path, table, fmt=fmts, delimiter=",", header=",".join(header), comments="")


def arguments(doc: str, rows: int) -> argparse.Namespace:
    """--out (made if missing), --rows and --seed, as this script and make_digits.py take them."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "generated")
    ap.add_argument("--rows", type=int, default=rows)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    return args


def main() -> None:
    args = arguments(__doc__, 2000)
    rng = np.random.default_rng(args.seed)
    x, y = sines(rng, args.rows)
    write_csv(args.out / "sines.csv", [f"t{i}" for i in range(SINE_T)] + ["label"], x, y, "%.3f")
    x, y = ar_process(rng, args.rows)
    write_csv(args.out / "ar.csv", [f"x{i}" for i in range(AR_T)] + ["next"], x, y, "%.4f")
    print(f"wrote {args.out / 'sines.csv'} and {args.out / 'ar.csv'} ({args.rows} rows each)")


if __name__ == "__main__":
    main()
