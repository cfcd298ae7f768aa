"""`stackspec summary`: a Keras-like table of layers, output shapes and parameter counts."""

from __future__ import annotations

from ..diagnostics import example_shape, shape_source
from ..layers import LAYERS
from .ir import IR, Node
from .memory import approx, estimate
from .pipeline import compile_source
from .spaces import MAX_CORNERS, corner_count, corners, spaces_of

BYTES_PER_VALUE = 4  # float32


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, tuple):
        return shape_source(v[:1]) if len(set(v)) == 1 else shape_source(v)
    return str(v)


def call_text(node: Node, keywords: bool = False) -> str:
    """The node as a spec line, read from the registry: `dense 1024 relu`, `maxpool2d 2`; with
    `keywords`, also the keyword arguments that differ from their defaults (`conv2d 16 relu
    stride=2`), as the emitted source's comments show them. Structural nodes are their name."""
    kind = LAYERS.get(node.op)
    words = [node.op]
    for arg in kind.args if kind else ():
        value = node.params[arg.name]
        if arg.positional and not (arg.name == "activation" and value == "linear"):
            words.append(_value(value))
        elif arg.positional or not keywords or value == arg.default or arg.name == "init":
            continue
        elif not (arg.name == "stride" and value == node.params.get("size")):
            words.append(f"{arg.name}={_value(value)}")
    return " ".join(words)


def byte_size(n_values: int) -> str:
    n = n_values * BYTES_PER_VALUE
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    raise AssertionError


def _rows(nodes, depth: int = 0):
    """(label, output shape, own params, own state) per node, bodies and branches indented
    under their node; a branch is a row of its own, its output shape with no counts (its
    layers' rows hold them, so the column still adds up to the total)."""
    for node in nodes:
        nested = bool(node.body or node.branches)
        yield (
            "  " * depth + f"{node.id:<5} {call_text(node)}",
            example_shape(node.output_shape),
            0 if nested else node.param_count,
            0 if nested else node.state_count,
        )
        yield from _rows(node.body, depth + 1)
        for i, branch in enumerate(node.branches):
            shape = branch[-1].output_shape if branch else node.input_shape
            label = "  " * (depth + 1) + f"{node.id}.{i:<3} branch"
            yield (label, example_shape(shape), None, None)
            yield from _rows(branch, depth + 2)


def summary(ir: IR, title: str = "") -> str:
    rows = [("Layer", "Output shape", "Params", "State")]
    for label, shape, params, state in _rows(ir.nodes):
        counts = ("", "") if params is None else (f"{params:,}", f"{state:,}")
        rows.append((label, shape, *counts))
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
        f"Total params: {total:,} ({byte_size(total)})",
        f"Trainable params: {ir.param_count:,} ({byte_size(ir.param_count)})",
        f"Non-trainable params: {ir.state_count:,} ({byte_size(ir.state_count)})",
        f"Weight memory: {byte_size(total)} (float32)",
        f"Activation memory: about {approx(estimate(ir, batch))} per training batch of {batch}",
    ]
    return "\n".join(out)


def space_range(source: str, file: str, overrides: dict, limits) -> list[str]:
    """`summary --space`: the parameter counts at the corners of the spec's search spaces not
    fixed by `overrides`, smallest and largest with the values that give them."""
    spaces = {k: v for k, v in spaces_of(source).items() if k not in overrides}
    if not spaces:
        return ["search space: none (the spec has no `let` holding a space)"]
    found = []
    for combo in corners(spaces):
        result = compile_source(source, file, {**overrides, **combo}, limits=limits)
        if result.ir is not None:
            found.append((result.ir.param_count, combo))
    total = corner_count(spaces)
    out = ["search space:"]
    out += [f"  {name} = {sp.text}" for name, sp in spaces.items()]
    shown = f"{min(total, MAX_CORNERS)} of {total}" if total > MAX_CORNERS else str(total)
    if not found:
        return [*out, f"parameters: no corner compiles ({shown} tried; `check --set` says why)"]
    (low, at_low), (high, at_high) = min(found, key=_first), max(found, key=_first)
    tried = min(total, MAX_CORNERS)
    failed = f"; {tried - len(found)} do not compile" if len(found) < tried else ""
    return [
        *out,
        f"parameters over {shown} corners{failed}:",
        f"  min {low:,} with " + " ".join(f"{k}={v}" for k, v in at_low.items()),
        f"  max {high:,} with " + " ".join(f"{k}={v}" for k, v in at_high.items()),
    ]


def _first(pair):
    return pair[0]
