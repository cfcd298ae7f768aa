"""What checkpointing every epoch costs: the red-wine run with and without `checkpoint every=1`.

    python benchmarks/bench_checkpoint.py [--epochs 10] [--repeats 5] [--backend numpy|torch]

specs/red_wine.stack (2.1 M parameters, Adam) on data/red-wine.csv with a 30 % validation
split, as `stackspec train` runs it: `model.fit(..., callbacks=[Checkpoint(tmp, every=1,
keep=3)])` against the same fit without the callback. Each checkpoint is 25.4 MB (weights and
Adam's two buffers), fsynced, into a temp folder on the same disk as the system's temp dir.
The two alternate, fit by fit, so both see the same machine load; the time per epoch is the
median of the fits' seconds / epochs, and the overhead is (with - without) / without. The goal
(issue 10) is under 5 %. With --torch-baseline, one hand-written PyTorch fit of the same model
(benchmarks/handwritten_torch.py, no checkpoints) is timed too, for scale.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import stackspec

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "red_wine.stack"
DATA = ROOT / "data" / "red-wine.csv"


def data():
    table = np.loadtxt(DATA, delimiter=",", skiprows=1, dtype=np.float32)
    return np.ascontiguousarray(table[:, :-1]), np.ascontiguousarray(table[:, -1])


class TimedCheckpoint(stackspec.Checkpoint):
    """Checkpoint that adds up the CPU seconds it costs: the training thread's share (copying
    the state, waiting for the previous write) and the writer thread's (thread_time in each)."""

    cpu = 0.0

    def on_epoch_end(self, epoch, logs=None):
        start = time.thread_time()
        super().on_epoch_end(epoch, logs)
        self.cpu += time.thread_time() - start

    def _write(self, *args):
        start = time.thread_time()
        super()._write(*args)
        self.cpu += time.thread_time() - start


def one_fit(spec, backend, X, y, epochs, folder) -> tuple[float, float, float]:
    """(wall, CPU, checkpoint CPU) seconds per epoch of one fit; with checkpoints into `folder`
    unless it is None. CPU is the process's, every thread's (the checkpoint writer's too)."""
    model = spec.compile(backend, **({"device": "cpu"} if backend == "torch" else {}))
    callbacks = [] if folder is None else [TimedCheckpoint(folder, every=1, keep=3)]
    start, cpu = time.perf_counter(), time.process_time()
    model.fit(X, y, validation_split=0.3, epochs=epochs, verbose=0, callbacks=callbacks)
    own = callbacks[0].cpu / epochs if callbacks else 0.0
    return (time.perf_counter() - start) / epochs, (time.process_time() - cpu) / epochs, own


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--backend", choices=["numpy", "torch"], default="numpy")
    ap.add_argument("--torch-baseline", action="store_true")
    args = ap.parse_args()

    spec = stackspec.load(SPEC)
    X, y = data()
    times: dict[str, list[tuple[float, float, float]]] = {"without": [], "with": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.warmup + args.repeats):
            for name in times:
                folder = None if name == "without" else Path(tmp) / f"run{i}"
                t = one_fit(spec, args.backend, X, y, args.epochs, folder)
                if i >= args.warmup:
                    times[name].append(t)
    print(f"red-wine fit, {args.backend} backend, {args.epochs} epochs x {args.repeats}:")
    print("                              wall / epoch    CPU / epoch")
    medians = {
        name: [statistics.median(t[k] for t in times[name]) for k in (0, 1)] for name in times
    }
    for name, label in (("without", "without checkpoints"), ("with", "checkpoint every=1")):
        wall, cpu = medians[name]
        print(f"  {label:26s} {wall * 1e3:9.1f} ms   {cpu * 1e3:9.1f} ms")
    over = [(medians["with"][k] - medians["without"][k]) / medians["without"][k] for k in (0, 1)]
    print(f"  {'difference':26s} {over[0] * 100:+9.1f} %    {over[1] * 100:+9.1f} %")
    # Robust to a loaded machine: what the checkpoint itself costs in CPU, against the cheapest
    # epoch without checkpoints (CPU time barely moves with load; wall time does).
    own = statistics.median(t[2] for t in times["with"])
    base = min(t[1] for t in times["without"])
    print(
        f"  checkpoint CPU per epoch {own * 1e3:.1f} ms = {own / base * 100:.1f} % of an epoch's "
        f"CPU ({base * 1e3:.1f} ms, fastest without)   (goal < 5 %)"
    )
    if args.torch_baseline:
        import torch

        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import handwritten_torch

        torch.set_num_threads(2)
        _, fit, _ = handwritten_torch.build(torch, torch.device("cpu"))
        fit(X, y, 1)
        start = time.perf_counter()
        fit(X, y, args.epochs)
        hand = (time.perf_counter() - start) / args.epochs
        print(f"  hand-written torch epoch   {hand * 1e3:8.1f} ms  (all rows, no validation)")


if __name__ == "__main__":
    main()
