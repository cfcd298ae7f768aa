"""Argument binding and shape inference over the expanded calls, producing IR nodes.

Driven entirely by the registry: each layer's `args` bind its call, its `shape` rule gives the
output shape, its `weights`/`state` give the tensors and so the counts. After an error the
shape is UNKNOWN and later layers skip their shape checks, so one mistake is reported once.
"""

from __future__ import annotations

import math
from dataclasses import replace

from ..diagnostics import Diagnostics, Span, example_shape
from ..layers import LAYERS, ShapeError, bind
from ..limits import DEFAULT
from .ir import Node
from .items import JoinCall, LayerCall, ResidualCall, Unknown

# The shape after a reported error: later layers are still bound (their own argument errors
# are reported) but not shape-checked. `None` means no `input` was given at all.
UNKNOWN = ("unknown",)


def _arg_span(c: LayerCall, kind, name: str) -> Span:
    """Where the call wrote argument `name` (its value), or the layer's name if it did not."""
    for kw in c.kwargs:
        if kw.name == name:
            return kw.value.span
    positional = [a.name for a in kind.args if a.positional]
    if name in positional and positional.index(name) < len(c.args):
        return c.args[positional.index(name)].span
    return c.span


class ShapeInference:
    def __init__(self, diags: Diagnostics, max_params: int = DEFAULT.params):
        self.diags = diags
        self.max_params = max_params
        self.total = 0
        self.missing_input_reported = False
        self.in_blocks: set = set()  # errors already reported inside a block body

    def nodes(self, items, shape, prefix: str = "") -> tuple[list[Node], tuple | None]:
        out: list[Node] = []
        for i, item in enumerate(items):
            node_id = f"{prefix}{i}"
            if isinstance(item, Unknown):
                node, shape = None, UNKNOWN
            elif isinstance(item, ResidualCall):
                node, shape = self._residual(item, node_id, shape)
            elif isinstance(item, JoinCall):
                node, shape = self._join(item, node_id, shape)
            else:
                node, shape = self._layer(item, node_id, shape)
            if node is not None:
                out.append(node)
        return out, shape

    def _layer(self, c: LayerCall, node_id: str, shape):
        kind = LAYERS[c.op]
        before = len(self.diags.items)
        params = bind(c.op, kind.args, c.args, c.kwargs, c.span, self.diags, c.names)
        if params is None:
            self._add_context(before, c.context)
            return None, UNKNOWN
        if kind.complete:
            params = kind.complete(params)
        if shape is None:
            self._missing_input(c.span)
            return None, UNKNOWN
        if (kind.adapted or kind.ids) and node_id != "0":
            self._not_first(c, node_id)
            self._add_context(before, c.context)
            return None, UNKNOWN
        if shape is UNKNOWN:
            return None, UNKNOWN
        try:
            out = kind.shape(params, shape)
        except ShapeError as e:
            self.diags.error(e.code, e.message, _arg_span(c, kind, e.arg), e.hint)
            self._add_context(before, c.context)
            return None, UNKNOWN
        node = Node(
            node_id,
            c.op,
            params,
            shape,
            out,
            c.span.line,
            c.span.column,
            kind.weights(params, shape),
            kind.state(params, shape),
        )
        self._count(node, c.span)
        return node, out

    def _residual(self, r: ResidualCall, node_id: str, shape):
        if shape is None:
            self._missing_input(r.span)
        body, out = self.nodes(r.body, shape, node_id + ".")
        if shape in (None, UNKNOWN) or out is UNKNOWN:
            return None, UNKNOWN
        if not r.body:
            self.diags.warning(
                "W204", "empty residual body: y = x + x", r.span, "remove the `residual`"
            )
        if out != shape:
            before = len(self.diags.items)
            self.diags.error(
                "E303",
                f"residual body changes the shape from {example_shape(shape)} to "
                f"{example_shape(out)}",
                r.span,
                "y = x + body(x) needs the body's output shape to equal its input shape",
            )
            self._add_context(before, r.context)
            return None, UNKNOWN
        return Node(
            node_id, "residual", {}, shape, out, r.span.line, r.span.column, body=tuple(body)
        ), out

    def _join(self, j: JoinCall, node_id: str, shape):
        """Every branch reads `shape`; concat joins the outputs on the feature axis (the last
        of (F) and (T, F), the channel axis of (C, H, W)), add needs them equal."""
        if shape is None:
            self._missing_input(j.span)
        results = [self.nodes(b, shape, f"{node_id}.{i}.") for i, b in enumerate(j.branches)]
        outs = [out for _, out in results]
        if shape in (None, UNKNOWN) or UNKNOWN in outs:
            return None, UNKNOWN
        out = join_shape(j.op, outs)
        if out is None:
            before = len(self.diags.items)
            shown = ", ".join(
                f"branch {i + 1} (line {sp.line}) gives {example_shape(o)}"
                for i, (o, sp) in enumerate(zip(outs, j.branch_spans, strict=True))
            )
            need = (
                "concat needs branch outputs of the same rank that differ only in the "
                "features (the last axis, or the channels of an image)"
                if j.op == "concat"
                else "add needs every branch to output the same shape"
            )
            self.diags.error("E303", f"{j.op}: branch outputs do not fit: {shown}", j.span, need)
            self._add_context(before, j.context)
            return None, UNKNOWN
        branches = tuple(tuple(nodes) for nodes, _ in results)
        node = Node(node_id, j.op, {}, shape, out, j.span.line, j.span.column, branches=branches)
        return node, out

    def _not_first(self, c: LayerCall, node_id: str) -> None:
        where = (
            "inside a residual or a branch" if "." in node_id else f"as layer {int(node_id) + 1}"
        )
        # An embedding reads ids from the data, a normalize the raw input's statistics.
        why = "its ids come from the data" if LAYERS[c.op].ids else "its statistics are the input's"
        self.diags.error(
            "E214",
            f"{c.op} is allowed only as the first layer, not {where}",
            c.span,
            f"{why}: move `{c.op}` right after `input`",
        )

    def _add_context(self, before: int, context: str) -> None:
        """Name the block call behind the errors of a layer written inside a block. The same
        error at the same place from a later call of the block is dropped: one mistake in a
        block body is one error, however often the block is called."""
        if not context:
            return
        new = []
        for d in self.diags.items[before:]:
            if d not in self.in_blocks:
                self.in_blocks.add(d)
                new.append(replace(d, message=f"{d.message} ({context})"))
        self.diags.items[before:] = new

    def _missing_input(self, span: Span) -> None:
        if not self.missing_input_reported:
            self.missing_input_reported = True
            self.diags.error(
                "E302",
                "no `input` before the first layer",
                span,
                "start the spec with `input N` or `input CxHxW`",
            )

    def _count(self, node: Node, span: Span) -> None:
        before = self.total
        self.total += sum(math.prod(w.shape) for w in node.weights.values())
        if before <= self.max_params < self.total:
            self.diags.error(
                "E401",
                f"the model has more than {self.max_params:,} parameters "
                f"({self.total:,} up to this layer)",
                span,
                "raise the limit with --max-params if this is intended",
            )


def join_shape(op: str, outs: list[tuple]) -> tuple | None:
    """The output of joining branch outputs `outs`, None where they do not fit."""
    if op == "add":
        return outs[0] if all(o == outs[0] for o in outs) else None
    axis = 0 if len(outs[0]) == 3 else len(outs[0]) - 1
    rest = [o[:axis] + o[axis + 1 :] for o in outs]
    if any(len(o) != len(outs[0]) or r != rest[0] for o, r in zip(outs, rest, strict=True)):
        return None
    joined = sum(o[axis] for o in outs)
    return outs[0][:axis] + (joined,) + outs[0][axis + 1 :]


def input_shape(value, diags: Diagnostics) -> tuple[int, ...] | None:
    """The shape of one example: (F), a sequence (T, F) or an image (C, H, W); None after
    reporting why not."""
    if value is None or value.kind == "invalid":
        return None
    if value.kind == "number" and isinstance(value.value, int):
        dims = (value.value,)
    elif value.kind == "shape":
        dims = tuple(value.value)
    else:
        diags.error(
            "E204", f"input must be a size such as 11 or 1x28x28, got {value.text}", value.span
        )
        return None
    if len(dims) > 3:
        diags.error(
            "E301",
            "input must be F features, TxF (time steps, features) or CxHxW (channels, height, "
            f"width), got {value.text}",
            value.span,
        )
        return None
    if any(d < 1 for d in dims):
        diags.error("E304", f"input sizes must be positive, got {value.text}", value.span)
        return None
    return dims
