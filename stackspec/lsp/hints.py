"""Inlay hints: each layer's output shape and parameter count after its call, and the totals of
a `repeat`, a `residual` or a block call after its header.

A line written once but expanded several times (inside a `repeat`, or in a block called more
than once) has one value per copy; equal neighbours are counted (`12,288 + 2 × 1,049,600
params`), so the hint adds up to what `stackspec summary` lists for those layers.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from lsprotocol import types as t

from ..compiler.ir import Node
from ..diagnostics import example_shape
from ..grammar.parser import paused_gc
from .analysis import Analysis, leaves
from .positions import to_client

MAX_RUNS = 3  # more different values than this: the sum alone
MAX_TOOLTIP = 8  # copies listed in a hint's tooltip


@dataclass(frozen=True)
class Hint:
    line: int  # 1-based, where the label goes (just after the call or the `{`)
    column: int
    label: str
    tooltip: str = ""


def amounts(values: list[int], noun: str) -> str:
    """`1,049,600 params`, `12,288 + 2 × 1,049,600 params`; '' when all are zero."""
    total = sum(values)
    if total == 0:
        return ""
    runs: list[list[int]] = []
    for v in values:
        if runs and runs[-1][1] == v:
            runs[-1][0] += 1
        else:
            runs.append([1, v])
    if len(runs) > MAX_RUNS:
        return f"{total:,} {noun} in {len(values)} copies"
    return " + ".join(f"{v:,}" if k == 1 else f"{k} × {v:,}" for k, v in runs) + f" {noun}"


def shapes(values: list[tuple[int, ...]]) -> str:
    distinct = list(dict.fromkeys(values))
    text = " / ".join(example_shape(v) for v in distinct[:MAX_RUNS])
    return text + (" / …" if len(distinct) > MAX_RUNS else "")


def layer_label(nodes: list[Node]) -> str:
    parts = [f"→ {shapes([n.output_shape for n in nodes])}"]
    parts.append(amounts([n.param_count for n in nodes], "params"))
    state = amounts([n.state_count for n in nodes], "state")
    return "  ".join(p for p in parts if p) + (f", {state}" if state else "")


def totals_label(copies: list[list[Node]]) -> str:
    """A `repeat`'s or block call's label: its output shape and the sums of its expansions."""
    layers = sum(len(c) for c in copies)
    params = sum(n.param_count for c in copies for n in leaves(c))
    state = sum(n.state_count for c in copies for n in leaves(c))
    text = f"→ {shapes([c[-1].output_shape for c in copies])}  {layers:,} layers"
    text += f", {params:,} params" + (f", {state:,} state" if state else "")
    return text + (f" in {len(copies)} expansions" if len(copies) > 1 else "")


def _tooltip(nodes: list[Node]) -> str:
    rows = [
        f"layer {n.id}: {example_shape(n.input_shape)} → {example_shape(n.output_shape)}, "
        f"{n.param_count:,} params" + (f", {n.state_count:,} state" if n.state_count else "")
        for n in nodes[:MAX_TOOLTIP]
    ]
    if len(nodes) > MAX_TOOLTIP:
        rows.append(f"… and {len(nodes) - MAX_TOOLTIP:,} more copies")
    return "\n".join(rows)


def between(a: Analysis, first: int, last: int) -> list[Hint]:
    """The hints of the calls and headers that start on lines first..last (1-based). Only
    these are labelled: an editor asks for the lines it shows, and a 10,000-layer spec has
    10,000 labels."""
    if a.ir is None or a.index is None:
        return []
    out = []
    nodes_at, expansions = a.nodes_at(), a.expansions()
    calls = a.index.calls  # in source order, as the walk visits them
    lo = bisect.bisect_left(calls, first, key=lambda c: c.span.line)
    for c in calls[lo:]:
        if c.span.line > last:
            break
        end = c.end
        nodes = nodes_at.get((c.span.line, c.span.column))
        if nodes:
            out.append(Hint(end.end_line, end.end_column, layer_label(nodes), _tooltip(nodes)))
        elif c.name in a.index.blocks and all(expansions.get(c.span, [[]])):
            out.append(Hint(end.end_line, end.end_column, totals_label(expansions[c.span])))
    for keyword, brace in a.index.headers.items():
        copies = expansions.get(keyword)
        if first <= keyword.line <= last and copies and all(copies):
            out.append(Hint(brace.end_line, brace.end_column, totals_label(copies)))
    out.sort(key=lambda h: (h.line, h.column))
    return out


def precompute(a: Analysis) -> None:
    """Label every line once, on the compile thread after the diagnostics went out: a request
    for the whole of a 10,000-layer spec then only slices the table."""
    with paused_gc():
        a.cache["hints"] = between(a, 1, len(a.lines))


def _hints(a: Analysis, first: int, last: int) -> list[Hint]:
    table = a.cache.get("hints")
    if table is None:
        return between(a, first, last)
    lo = bisect.bisect_left(table, first, key=lambda h: h.line)
    hi = bisect.bisect_right(table, last, key=lambda h: h.line)
    return table[lo:hi]


def inlay_hints(
    a: Analysis, first: int, last: int, current: list[str], encoding: str
) -> list[t.InlayHint]:
    """The hints on 0-based lines first..last. A hint from an older version of the text is shown
    only where its line reads as it did then."""
    out = []
    for h in _hints(a, first + 1, last + 1):
        if h.line > len(current) or current[h.line - 1] != a.lines[h.line - 1]:
            continue
        line, character = to_client(a.lines, h.line, h.column, encoding)
        out.append(
            t.InlayHint(
                position=t.Position(line, character),
                label=h.label,
                kind=t.InlayHintKind.Type,
                tooltip=h.tooltip or None,
                padding_left=True,
            )
        )
    return out
