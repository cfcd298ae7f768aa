"""`stackspec summary`: a Keras-like table of layers, output shapes and parameter counts."""

from __future__ import annotations

from ..diagnostics import example_shape, shape_source
from .ir import IR, Node
from .memory import approx, estimate

BYTES_PER_VALUE = 4  # float32


def _describe(node: Node) -> str:
    p = node.params
    if node.op in ("dense", "conv2d"):
        first = p["units"] if node.op == "dense" else p["filters"]
        act = p["activation"]
        return f"{node.op} {first}" + ("" if act == "linear" else f" {act}")
    if node.op == "dropout":
        return f"dropout {p['rate']:g}"
    if node.op in ("maxpool2d", "avgpool2d"):
        return f"{node.op} {shape_source(p['size'])}"
    return node.op


def _size(n_values: int) -> str:
    n = n_values * BYTES_PER_VALUE
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    raise AssertionError


def _rows(nodes, depth: int = 0):
    for node in nodes:
        yield (
            "  " * depth + f"{node.id:<5} {_describe(node)}",
            example_shape(node.output_shape),
            node,
        )
        yield from _rows(node.body, depth + 1)


def summary(ir: IR, title: str = "") -> str:
    rows = [("Layer", "Output shape", "Params", "State")]
    for label, shape, node in _rows(ir.nodes):
        own_params = node.param_count if not node.body else 0
        own_state = node.state_count if not node.body else 0
        rows.append((label, shape, f"{own_params:,}", f"{own_state:,}"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    widths[0] = max(widths[0], len(f"input {example_shape(ir.input)}"))
    line = "-" * (sum(widths) + 6)

    def fmt(r) -> str:
        return f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]:>{widths[3]}}"

    total = ir.param_count + ir.state_count
    batch = ir.train["batch"]
    out = [f"Model: {title}"] if title else []
    out += [line, fmt(rows[0]), line, f"input {example_shape(ir.input)}"]
    out += [fmt(r) for r in rows[1:]]
    out += [
        line,
        f"Total params: {total:,} ({_size(total)})",
        f"Trainable params: {ir.param_count:,} ({_size(ir.param_count)})",
        f"Non-trainable params: {ir.state_count:,} ({_size(ir.state_count)})",
        f"Weight memory: {_size(total)} (float32)",
        f"Activation memory: about {approx(estimate(ir, batch))} per training batch of {batch}",
    ]
    return "\n".join(out)
