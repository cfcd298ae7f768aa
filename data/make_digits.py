"""Write the synthetic 8x8 digit images that specs/inception_digits.stack and
specs/digits_cnn.stack train on. Seeded: the same arguments write the same bytes.

    python data/make_digits.py [--out data/generated] [--rows 3000] [--seed 0]

digits.csv (`input 1x8x8`): columns p0..p63, the 8x8 pixels row by row (p0..p7 the top row),
then `label` 0-9 (balanced). Each image is a digit of a 5x7 bitmap font, distorted so that no
two are alike and no single pixel tells the class: a random shear (rows shifted by up to one
pixel either way, as a slanted hand), a random place in the 8x8 frame (0 or 1 column and row
from the top left), a random stroke intensity in [0.5, 1], 15 % of the stroke pixels erased,
then N(0, 0.3) noise on every pixel, clipped to [0, 1].
"""

from __future__ import annotations

import numpy as np
from make_sequences import arguments, write_csv

SIDE, ERASE, NOISE = 8, 0.15, 0.3
FONT = (
    ("01110", "10001", "10011", "10101", "11001", "10001", "01110"),
    ("00100", "01100", "00100", "00100", "00100", "00100", "01110"),
    ("01110", "10001", "00001", "00010", "00100", "01000", "11111"),
    ("11111", "00010", "00100", "00010", "00001", "10001", "01110"),
    ("00010", "00110", "01010", "10010", "11111", "00010", "00010"),
    ("11111", "10000", "11110", "00001", "00001", "10001", "01110"),
    ("00110", "01000", "10000", "11110", "10001", "10001", "01110"),
    ("11111", "00001", "00010", "00100", "01000", "01000", "01000"),
    ("01110", "10001", "10001", "01110", "10001", "10001", "01110"),
    ("01110", "10001", "10001", "01111", "00001", "00010", "01100"),
)


def glyphs() -> np.ndarray:
    """(10, 7, 5) float 0/1 bitmaps."""
    return np.array([[[c == "1" for c in row] for row in g] for g in FONT], dtype=np.float64)


def render(rng: np.random.Generator, label: int, font: np.ndarray) -> np.ndarray:
    g = font[label]
    shear = rng.uniform(-0.25, 0.25)
    image = np.zeros((SIDE, SIDE))
    dx, dy = rng.integers(0, 2), rng.integers(0, 2)  # 5 + 2 (shear) + 1 columns fit 8
    for r, row in enumerate(g):
        shift = 1 + int(round(shear * (r - 3)))  # 0, 1 or 2
        image[dy + r, dx + shift : dx + shift + 5] = row
    image *= rng.uniform(0.5, 1.0)
    image *= rng.random(image.shape) >= ERASE
    return np.clip(image + rng.normal(0.0, NOISE, image.shape), 0.0, 1.0)


def digits(rng: np.random.Generator, rows: int) -> tuple[np.ndarray, np.ndarray]:
    labels = np.arange(rows) % len(FONT)
    rng.shuffle(labels)
    font = glyphs()
    x = np.stack([render(rng, int(y), font).reshape(-1) for y in labels])
    return x, labels


def main() -> None:
    args = arguments(__doc__, 3000)
    x, y = digits(np.random.default_rng(args.seed), args.rows)
    path = args.out / "digits.csv"
    write_csv(path, [f"p{i}" for i in range(SIDE * SIDE)] + ["label"], x, y, "%.3f")
    print(f"wrote {path} ({args.rows} rows)")


if __name__ == "__main__":
    main()
