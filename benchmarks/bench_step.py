"""One training step of the red-wine model: NumpyModel vs the same model hand-written in PyTorch,
and vs the step's GEMM floor.

    python benchmarks/bench_step.py [--steps 100] [--warmup 20] [--rounds 5]
    python benchmarks/bench_step.py --growth [--steps 30]
    python benchmarks/bench_step.py --parts [--steps 100]

specs/red_wine.stack (3 x [dense 1024 relu | dropout 0.3 | batchnorm] + dense 1, MAE loss,
Adam lr=1e-3), batch 256. A step is forward, backward and the Adam update. The torch model is
written by hand (nn.Sequential, torch.optim.Adam(eps=1e-7), L1 loss, 2 threads), as a user would.
The floor is exactly the step's matrix multiplies (same shapes, float32, the same transposed
operands and BLAS threads), into preallocated outputs. Blocks of steps of the three alternate,
so all see the same machine load, each after half a second idle (torch's threads linger after
its block and slowed the next block's steps by a quarter); medians and 10th percentiles are
reported.

--kernels numba (the default) measures the step of a long run, whose elementwise passes are
compiled (numba installed); numpy measures the pure-NumPy fallback. --cpu-time times with
process CPU time instead of the wall clock: on a machine shared with other jobs, with
OPENBLAS_NUM_THREADS=1 and --threads 1, it is what their load disturbs least.

Both this and --parts end with the bounds no step goes below besides its GEMMs: Adam's memory
traffic and the dropout masks' draws, each timed alone; here also the least step they allow
(floor p10 + bounds) over torch's p10.

--parts splits the NumPy step into its GEMMs (the floor), each elementwise kernel (timed inside
the step), the dropout draws and the rest (Python, the small per-feature vectors, the loss),
with the bytes each kernel moves and the rate that makes: where the time above the floor goes.

--growth prints the NumPy step and its floor for batch 64..512 (width 1024) and width
256..2048 (batch 256): both should grow linearly in batch and quadratically in width.
"""

from __future__ import annotations

import argparse
import math
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
SETTLE = 0.5  # seconds idle before each timed block (see interleaved)


def red_wine(width: int = 1024):
    text = (ROOT / "specs" / "red_wine.stack").read_text()
    return stackspec.parse(text.replace("dense 1024", f"dense {width}"), "red_wine.stack")


def numpy_step(spec):
    model = NumpyModel(spec)
    model._begin_training(spec.ir.train)
    model._train_step(*data(2))  # the first step loads the kernels it asked for
    return lambda x, y: model._train_step(x, y)


def kernels_used(spec) -> str:
    model = NumpyModel(spec)
    model._begin_training(spec.ir.train)
    model._train_step(*data(2))
    return model._ctx.kernels.__name__.rpartition(".")[2]


def gemm_floor(spec, batch: int):
    """A step's matrix multiplies alone, as NumPy's dense layer runs them: forward x @ W.T,
    backward dz.T @ x (the weight gradient) and dz @ W (the input gradient; not for the
    first layer, whose input needs none, nor for a one-unit layer, an outer product there)."""
    rng = np.random.default_rng(0)

    def rand(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    calls = []
    dense = [n for n in spec.ir.walk() if n.op == "dense"]
    for i, node in enumerate(dense):
        (f,), units = node.input_shape, node.params["units"]
        x, w, dz = rand(batch, f), rand(units, f), rand(batch, units)
        calls.append((x, w.T, np.empty((batch, units), np.float32)))
        calls.append((dz.T, x, np.empty((units, f), np.float32)))
        if i > 0 and units > 1:
            calls.append((dz, w, np.empty((batch, f), np.float32)))

    def step(_x, _y):
        for a, b, out in calls:
            np.matmul(a, b, out=out)

    return step


def torch_step(torch):
    """The hand-written model's step (benchmarks/handwritten_torch.py), on host arrays."""
    step, _, _ = handwritten_torch.build(torch, torch.device("cpu"))
    return step


def interleaved(
    steps: dict, block: int, rounds: int, warmup: int, clock=time.perf_counter, settle=SETTLE
):
    """Seconds per step of each, timed in alternating blocks. Before each block the machine is
    left idle for `settle` seconds and one step is run untimed: the other library's worker
    threads may still be spinning, and its working set fills the caches. (Measured: without
    the pause, the NumPy step timed right after torch's block was 34-36 ms against 28 ms with
    it, for the whole block of 20 steps; the floor and torch gained 2-5 ms too.)"""
    for step, x, y in steps.values():
        for _ in range(warmup):
            step(x, y)
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, (step, x, y) in steps.items():
            time.sleep(settle)
            step(x, y)
            for _ in range(block):
                start = clock()
                step(x, y)
                times[name].append(clock() - start)
    return times


def paired(ours: list[float], other: list[float], block: int) -> float:
    """The median over rounds of (our block's median / the other's block median): blocks
    next to each other in time share the machine's state, so a slow spell of the host moves
    both sides of a ratio instead of one side of the pooled medians."""
    rounds = range(0, len(ours), block)
    return statistics.median(
        statistics.median(ours[i : i + block]) / statistics.median(other[i : i + block])
        for i in rounds
    )


def stats(t: list[float]) -> tuple[float, float]:
    # The 10th percentile is robust to bursts of load from other processes on a shared machine.
    return statistics.median(t) * 1e3, statistics.quantiles(t, n=10)[0] * 1e3


def data(batch: int):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, 11)).astype(np.float32)
    y = (rng.standard_normal(batch) + 5.6).astype(np.float32)
    return x, y


def environment(args, torch=None) -> str:
    threads = f", torch {torch.__version__} ({torch.get_num_threads()} threads)" if torch else ""
    return (
        f"numpy {np.__version__}{threads}, kernels {kernels_used(red_wine(16))}, "
        f"{'CPU' if args.cpu_time else 'wall'} time, "
        f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', '(unset)')}, "
        f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
    )


def compare(args) -> None:
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    spec = red_wine()
    x, y = data(BATCH)
    steps = {
        "numpy": (numpy_step(spec), x, y),
        "floor": (gemm_floor(spec, BATCH), x, y),
        "torch": (torch_step(torch), x, y),
    }
    block = max(2, args.steps // args.rounds)
    times = interleaved(steps, block, args.rounds, args.warmup, args.clock)
    med, p10 = {}, {}
    for name, t in times.items():
        med[name], p10[name] = stats(t)
    print(environment(args, torch))
    n = len(times["numpy"])
    print(f"red-wine training step, batch {BATCH}, {n} timed steps each after {args.warmup}:")
    print(f"  {'':6s} {'median':>9s} {'p10':>9s}")
    for name in times:
        print(f"  {name:6s} {med[name]:6.2f} ms {p10[name]:6.2f} ms")
    for other in ("torch", "floor"):
        print(
            f"  ratio numpy/{other}: median {med['numpy'] / med[other]:.2f}, "
            f"p10 {p10['numpy'] / p10[other]:.2f}, "
            f"paired {paired(times['numpy'], times[other], block):.2f}"
        )
    least = bounds(spec, p10["floor"], args)
    print(f"  the least step / torch (p10): {least / p10['torch']:.2f}")


# Bytes each kernel reads and writes per call, in units of its big tensor (Adam: of the flat
# parameter vector): dropout reads x and the uint32 draws and writes y and the factor, ...
TRAFFIC = {
    "adam": 7,
    "dropout": 4,
    "relu_grad": 3,
    "center": 3,
    "batchnorm_grad": 3,
    "bias_relu": 2,
    "scale_shift": 2,
    "column_sums": 2,
}


class _Timed:
    """A kernels module whose functions add their time and bytes to `seconds` and `nbytes`."""

    def __init__(self, module, seconds: dict, nbytes: dict):
        for name in TRAFFIC:
            setattr(self, name, self._timed(name, getattr(module, name), seconds, nbytes))

    @staticmethod
    def _timed(name, fn, seconds, nbytes):
        def timed(*args):
            start = time.perf_counter()
            out = fn(*args)
            seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - start
            nbytes[name] = nbytes.get(name, 0) + TRAFFIC[name] * args[0].nbytes
            return out

        return timed


class _TimedDraws:
    """ctx.rng for dropout: its bit_generator.random_raw timed into seconds["dropout draws"]."""

    def __init__(self, rng, seconds: dict):
        self.bit_generator, self._raw, self._seconds = self, rng.bit_generator.random_raw, seconds

    def random_raw(self, size):
        start = time.perf_counter()
        out = self._raw(size)
        key = "dropout draws"
        self._seconds[key] = self._seconds.get(key, 0.0) + time.perf_counter() - start
        return out


def parts(args) -> None:
    """The step above its GEMM floor, part by part (medians over blocks of steps)."""
    spec = red_wine()
    model = NumpyModel(spec)
    model._begin_training(spec.ir.train)
    model._train_step(*data(2))
    seconds, nbytes = {}, {}
    model._ctx.kernels = model._optimizer.kernels = _Timed(model._ctx.kernels, seconds, nbytes)
    model._ctx.rng = _TimedDraws(model._ctx.rng, seconds)
    x, y = data(BATCH)
    steps = {"numpy": (model._train_step, x, y), "floor": (gemm_floor(spec, BATCH), x, y)}
    block = max(2, args.steps // args.rounds)
    for step_fn, a, b in steps.values():
        for _ in range(args.warmup):
            step_fn(a, b)
    seconds.clear(), nbytes.clear()  # the warm-up's own calls are not counted
    times = interleaved(steps, block, args.rounds, 0, args.clock)
    n = len(times["numpy"]) + args.rounds  # interleaved also runs one untimed step per block
    step, floor = (statistics.median(times[k]) * 1e3 for k in ("numpy", "floor"))
    print(environment(args))
    print(f"red-wine NumPy step, batch {BATCH}: {step:.2f} ms, GEMM floor {floor:.2f} ms")
    print(f"  {'part':16s} {'ms/step':>8s} {'MB/step':>8s} {'GB/s':>6s}")
    print(f"  {'GEMMs (floor)':16s} {floor:8.2f}")
    parts_ms = 0.0
    for name, s in sorted(seconds.items(), key=lambda kv: -kv[1]):
        ms, mb = s / n * 1e3, nbytes.get(name, 0) / n / 1e6
        parts_ms += ms
        rate = f"{mb / ms:6.1f}" if mb else ""
        print(f"  {name:16s} {ms:8.2f} {f'{mb:8.1f}' if mb else '':>8s} {rate}")
    rest = step - floor - parts_ms
    print(f"  {'rest':16s} {rest:8.2f}   (Python, per-feature vectors, loss, bias sums)")
    print(f"  step / floor {step / floor:.2f}; elementwise kernels and draws {parts_ms:.2f} ms")
    bounds(spec, floor, args)


def bounds(spec, floor: float, args) -> float:
    """What no step can go below besides its GEMMs: Adam's memory traffic (its loads and
    stores over the parameters, with no arithmetic) and the dropout masks' random draws with
    NumPy's fastest generator (SFC64; the step uses PCG64), each timed alone (p10)."""
    n = spec.ir.param_count
    units = sum(
        BATCH * math.prod(node.input_shape)
        for node in spec.ir.walk()
        if node.op == "dropout" and node.params["rate"] > 0
    )
    rng = np.random.default_rng(0)
    p, g, m, v = (rng.random(n, dtype=np.float32) for _ in range(4))
    generator = np.random.SFC64(0)
    timed = {"draws (SFC64)": lambda: generator.random_raw((units + 1) // 2)}
    try:
        from numba import njit
    except ImportError:
        print("  (numba is not installed: Adam's traffic bound is not measured)")
    else:

        @njit(nogil=True)
        def traffic(p, g, m, v):  # Adam's loads and stores, the least arithmetic
            for i in range(p.size):
                gi = g[i]
                m[i] += gi
                v[i] += gi
                p[i] -= gi

        timed["Adam's traffic"] = lambda: traffic(p, g, m, v)
    least = floor
    print(f"  bounds, each alone, p10 of {args.steps} calls:")
    for name, fn in timed.items():
        times = []
        for _ in range(args.warmup + args.steps):
            start = args.clock()
            fn()
            times.append(args.clock() - start)
        ms = stats(times[args.warmup :])[1]  # p10, in ms
        least += ms
        print(f"  {name:16s} {ms:8.2f}")
    print(f"  floor + bounds {least:.2f} ms: the step's least without any other pass")
    return least


def growth(args) -> None:
    print(environment(args))
    print("NumPy step (p10 ms) and its GEMM floor, red-wine layers of the given width:")
    print(f"  {'batch':>5s} {'width':>5s} {'step':>8s} {'floor':>8s} {'ratio':>5s}")
    shapes = [(b, 1024) for b in (64, 128, 256, 512)] + [(256, w) for w in (256, 512, 2048)]
    for batch, width in sorted(shapes, key=lambda s: (s[1], s[0])):
        spec = red_wine(width)
        x, y = data(batch)
        steps = {"numpy": (numpy_step(spec), x, y), "floor": (gemm_floor(spec, batch), x, y)}
        block = max(2, args.steps // args.rounds)
        times = interleaved(steps, block, args.rounds, args.warmup, args.clock)
        step, floor = stats(times["numpy"])[1], stats(times["floor"])[1]
        print(f"  {batch:5d} {width:5d} {step:8.2f} {floor:8.2f} {step / floor:5.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--growth", action="store_true", help="the table of step time by shape")
    ap.add_argument("--parts", action="store_true", help="where the time above the floor goes")
    ap.add_argument("--kernels", choices=["numba", "numpy", "auto"], default="numba")
    ap.add_argument("--threads", type=int, default=2, help="torch's threads")
    ap.add_argument("--cpu-time", action="store_true", help="process CPU time, not wall time")
    args = ap.parse_args()
    os.environ["STACKSPEC_KERNELS"] = args.kernels
    args.clock = time.process_time if args.cpu_time else time.perf_counter
    growth(args) if args.growth else parts(args) if args.parts else compare(args)


if __name__ == "__main__":
    main()
