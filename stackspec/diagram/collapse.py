"""What the diagram says about a part (its one-line text, its detail line) and collapsing: a
repeat of two or more copies, or a run of equal consecutive parts, becomes one Stack, drawn as
one stacked box (layout.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..compiler.groups import Group, Layer, Part, Residual, top_nodes
from ..compiler.groups import Join as Branches
from ..compiler.ir import Node
from ..compiler.summary import call_text
from ..diagnostics import example_shape

MAX_TITLE_LINES = 4


# --- what a part says --------------------------------------------------------------------------


def signature(part: Part):
    """Equal for parts that compute the same thing on the same shapes: a run of them collapses."""
    if isinstance(part, Layer):
        n = part.node
        return ("layer", call_text(n, keywords=True), n.input_shape, n.output_shape)
    if isinstance(part, Residual):
        return ("residual", part.node.input_shape, tuple(signature(p) for p in part.body))
    if isinstance(part, Branches):
        inner = tuple(tuple(signature(p) for p in b) for b in part.branches)
        return (part.node.op, part.node.input_shape, inner)
    return (part.kind, part.label, tuple(tuple(signature(p) for p in c) for c in part.copies))


def text_of(part: Part) -> str:
    """A part as one line of spec-like text, its body in braces."""
    if isinstance(part, Layer):
        return call_text(part.node, keywords=True)
    if isinstance(part, Residual):
        return f"residual {{ {body_text(part.body)} }}"
    if isinstance(part, Branches):
        inner = " ".join(f"branch {{ {body_text(b)} }}" for b in part.branches)
        return f"{part.node.op} {{ {inner} }}"
    if part.kind == "block":
        return part.label
    return f"{part.label} × {{ {body_text(part.copies[0])} }}"


def body_text(parts) -> str:
    return " | ".join(text_of(p) for p in parts)


def _count(n: int, what: str) -> str:
    return f"{n:,} {what}"


def detail(nodes: list[Node], each: tuple[int, ...] = ()) -> str:
    """`out (1024) · 11,264 params · 2,048 state`, summed over `nodes`; with `each`, the
    parameters of each copy, `(3 × 4,288)` when they are equal."""
    params = sum(n.param_count for n in nodes)
    state = sum(n.state_count for n in nodes)
    words = [f"out {example_shape(nodes[-1].output_shape)}", _count(params, "params")]
    if len(each) > 1 and params and len(set(each)) == 1:
        words[-1] += f" ({len(each)} × {each[0]:,})"
    if state:
        words.append(_count(state, "state"))
    return " · ".join(words)


def wrap(text: str, chars: int, max_lines: int = MAX_TITLE_LINES) -> list[str]:
    """`text` in lines of at most `chars`, broken at spaces; an overlong end becomes `…`."""
    lines: list[str] = []
    for word in text.split(" "):
        while len(word) > chars:  # a word longer than a line (a long name) is cut
            lines.append(word[:chars])
            word = word[chars:]
        if lines and len(lines[-1]) + 1 + len(word) <= chars:
            lines[-1] += " " + word
        else:
            lines.append(word)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][: chars - 1] + "…"
    return lines


def fit(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: max(chars - 1, 0)] + "…"


def _params(nodes) -> int:
    return sum(n.param_count for n in nodes)


# --- collapsing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stack:
    """Parts drawn as one stacked box: a collapsed repeat, or a run of equal parts."""

    text: str
    nodes: tuple[Node, ...]
    each: tuple[int, ...]  # the parameters of each copy


def collapsed(parts) -> list:
    """`parts` with repeats and runs of equal parts made Stacks, frames' insides collapsed."""
    out: list = []
    i = 0
    while i < len(parts):
        part, run = parts[i], 1
        while i + run < len(parts) and signature(parts[i + run]) == signature(part):
            run += 1
        nodes = tuple(n for p in parts[i : i + run] for n in top_nodes([p]))
        if run > 1:
            each = tuple(_params(top_nodes([p])) for p in parts[i : i + run])
            out.append(Stack(f"{run} × {text_of(part)}", nodes, each))
        elif isinstance(part, Group) and part.kind == "repeat" and len(part.copies) > 1:
            each = tuple(_params(top_nodes(c)) for c in part.copies)
            out.append(Stack(text_of(part), nodes, each))
        elif isinstance(part, Group):
            out.append(Group(part.kind, part.label, tuple(collapsed(c) for c in part.copies)))
        elif isinstance(part, Residual):
            out.append(Residual(part.node, tuple(collapsed(part.body))))
        elif isinstance(part, Branches):
            out.append(Branches(part.node, tuple(tuple(collapsed(b)) for b in part.branches)))
        else:
            out.append(part)
        i += run
    return out
