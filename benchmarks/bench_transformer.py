"""A training step of the small transformer spec: NumpyModel, the same model hand-written in
torch, and stackspec's torch backend, in one run.

    python benchmarks/bench_transformer.py [--steps 60] [--warmup 10] [--rounds 3] [--batch 64]
                                           [--threads 2]

Model: specs/seq_transformer.stack (`input 64x1`, `conv1d 16 relu kernel=7 padding=same`,
`posembed`, two pre-norm encoder blocks of `residual { layernorm | attention 2 8 }` and
`residual { layernorm | dense 32 gelu | dense 16 }`, `layernorm`, `globalavgpool`,
`dense 3 softmax`; crossentropy, Adam lr=3e-3). The hand-written torch model is what a user
would write: nn.Conv1d, a learned nn.Parameter for the positions, nn.LayerNorm,
nn.MultiheadAttention(16, 2, batch_first=True) (heads*key_dim = 16 = F, so torch's module fits),
nn.Linear/nn.GELU, the mean over time, F.cross_entropy on the logits,
torch.optim.Adam(eps=1e-7), torch.set_num_threads(--threads). The torch backend is the spec
compiled with `--backend torch` and its `_train_step` (the batch copied in, `loss.item()` read).

A step is forward, backward and the Adam update; NumPy's and the hand-written model's are also
split into the training forward and the backward (bench_recurrent.py's parts). Blocks of steps
alternate between the three, the first step of each block untimed; medians and 10th percentiles.
"""

from __future__ import annotations

import os
import statistics
import sys
from pathlib import Path

import numpy as np

import stackspec

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_recurrent import (  # noqa: E402
    PARTS,
    measure,
    numpy_parts,
    start_torch,
    step_arguments,
    torch_parts,
)

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "seq_transformer.stack"
T, F, CLASSES = 64, 16, 3


def hand_written(torch):
    """The spec's model as a user writes it in torch, and its timed step."""
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm1, self.norm2 = nn.LayerNorm(F), nn.LayerNorm(F)
            self.attn = nn.MultiheadAttention(F, 2, batch_first=True)
            self.ff = nn.Sequential(nn.Linear(F, 32), nn.GELU(), nn.Linear(32, F))

        def forward(self, x):
            h = self.norm1(x)
            x = x + self.attn(h, h, h, need_weights=False)[0]
            return x + self.ff(self.norm2(x))

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(1, F, 7, padding=3)
            self.pos = nn.Parameter(torch.zeros(1, T, F))
            self.blocks = nn.Sequential(Block(), Block())
            self.norm = nn.LayerNorm(F)
            self.head = nn.Linear(F, CLASSES)

        def forward(self, x):  # x: (N, T, 1)
            h = torch.relu(self.conv(x.transpose(1, 2))).transpose(1, 2) + self.pos
            return self.head(self.norm(self.blocks(h)).mean(dim=1))

    model = Model()

    def loss_of(xb, yb):
        return nn.functional.cross_entropy(model(xb), yb)

    return torch_parts(torch, loss_of, model.parameters())


def backend_step(spec, backend: str):
    """A compiled model's whole `_train_step` (its parts are not separable from outside)."""
    model = spec.compile(backend)
    model._begin_training(spec.ir.train)

    def step(x, y, clock):
        t0 = clock()
        model._train_step(x, y)
        return float("nan"), float("nan"), clock() - t0

    return step


def report(times: dict) -> None:
    def stat(ts, q):
        ts = [t for t in ts if t == t]  # the backend's parts are NaN
        if not ts:
            return float("nan")
        return (statistics.median(ts) if q == 50 else statistics.quantiles(ts, n=10)[0]) * 1e3

    names = list(times)
    print(f"{'':16s}" + "".join(f"{n:>14s}" for n in names) + "   numpy/hand (median; p10)")
    for part in PARTS:
        med = [stat(times[n][part], 50) for n in names]
        p10 = [stat(times[n][part], 10) for n in names]
        cells = "".join(f"{m:11.2f} ms" if m == m else f"{'-':>14s}" for m in med)
        print(f"  {part:14s}{cells}   {med[0] / med[1]:5.2f}; {p10[0] / p10[1]:.2f}")
    step = {n: stat(times[n]["step"], 50) for n in names}
    print(
        f"  step ratios: numpy / torch backend {step['numpy'] / step['torch backend']:.2f}, "
        f"torch backend / hand-written {step['torch backend'] / step['hand torch']:.2f}"
    )


def main() -> None:
    args = step_arguments(__doc__).parse_args()
    torch = start_torch(args)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.batch, T, 1)).astype(np.float32)
    y = rng.integers(0, CLASSES, args.batch).astype(np.int64)
    print(f"{SPEC.name}: batch {args.batch}, {args.steps} timed steps each after {args.warmup}")
    spec = stackspec.load(SPEC)
    steps = {
        "numpy": numpy_parts(spec),
        "hand torch": hand_written(torch),
        "torch backend": backend_step(spec, "torch"),
    }
    report(measure(steps, x, y, args))
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
