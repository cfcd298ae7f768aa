"""Parse and validate generated specs of 1,000 and 10,000 layers (issue 2).

Goal: the 10,000-layer spec in under 1 s, and linear growth (a 1k -> 10k time ratio near 10).
Each spec writes every layer out (no `repeat`), mixing the layer kinds, `|` groups, comments,
constants and a train section, so the parser, the resolver and shape inference all do their
full work. Times are medians of several runs, in-process, after one warm-up run.

    python benchmarks/bench_parse.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from stackspec.compiler.pipeline import compile_source
from stackspec.diagnostics import Diagnostics
from stackspec.grammar.parser import get_parser, parse_program, paused_gc

PATTERN = [
    "dense width relu",
    "dropout rate",
    "batchnorm momentum=0.9",
    "layernorm eps=1e-5",
    "dense width activation=gelu init=he_normal",
    "leaky_relu slope=0.1",
]


def generate(layers: int) -> str:
    """A valid spec with exactly `layers` layers after expansion."""
    lines = ["# generated for benchmarks/bench_parse.py", "let width = 64", "let rate = 0.1"]
    lines.append("input 32")
    lines.append("dense width")  # 32 -> width, then every layer keeps the width
    written = 1
    while written < layers:
        if written % 10 == 0 and layers - written >= 3:
            lines.append("dense width | relu | dropout 0.2  # a group on one line")
            written += 3
            continue
        lines.append(PATTERN[written % len(PATTERN)])
        written += 1
    lines += ["train {", "  loss mae", "  epochs 3", "}", ""]
    return "\n".join(lines)


def median_time(fn, runs: int) -> float:
    fn()  # warm-up: the parser tables load once per process
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(layers: int, runs: int) -> tuple[float, float, int]:
    text = generate(layers)
    result = compile_source(text)
    assert not result.diags.has_errors, result.diags.sorted()[:3]
    assert sum(1 for _ in result.ir.walk()) == layers

    def parse() -> None:
        with paused_gc():  # as compile_source and fmt do
            parse_program(text, Diagnostics())

    parse = median_time(parse, runs)
    full = median_time(lambda: compile_source(text), runs)
    return parse, full, len(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    get_parser()
    rows = {n: measure(n, args.runs) for n in (1_000, 10_000)}
    print(f"{'layers':>7} {'bytes':>8} {'parse':>9} {'parse+validate':>15}")
    for n, (parse, full, size) in rows.items():
        print(f"{n:>7,} {size:>8,} {parse * 1e3:>7.1f} ms {full * 1e3:>12.1f} ms")
    p1, f1, _ = rows[1_000]
    p10, f10, _ = rows[10_000]
    print(f"1k -> 10k ratio: parse {p10 / p1:.1f}, parse+validate {f10 / f1:.1f} (linear: 10)")
    print(
        f"10k layers parse+validate: {f10:.3f} s (goal < 1 s); median of {args.runs} runs, "
        f"Python {sys.version.split()[0]}"
    )


if __name__ == "__main__":
    main()
