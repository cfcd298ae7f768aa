"""Hover: a layer's signature, defaults and description with this call's resolved arguments and
shapes; a constant's value; a block's definition and what this call of it expands to."""

from __future__ import annotations

from lsprotocol import types as t

from ..compiler.ir import Node
from ..diagnostics import example_shape
from ..layers import ALIASES, LAYERS
from . import index as idx
from .analysis import Analysis
from .hints import totals_label
from .registry import (
    layer_args,
    setting_args,
    setting_doc,
    setting_signature,
    signature,
    value_text,
)

MAX_DEFINITION_LINES = 30
MAX_COPIES = 4


def _code(text: str) -> str:
    return f"```stackspec\n{text}\n```"


def _layer(a: Analysis, occ: idx.Occurrence) -> str:
    op = ALIASES.get(occ.name, occ.name)
    kind = LAYERS.get(op)
    if kind is None:
        return ""
    alias = f" (alias of `{op}`)" if op != occ.name else ""
    out = [_code(signature(occ.name, kind.args)), f"**{occ.name}**{alias}: {kind.doc}"]
    nodes = a.nodes_at().get((occ.span.line, occ.span.column), []) if a.ir else []
    if nodes:
        out.append(_this_call(nodes))
    return "\n\n".join(out)


def _this_call(nodes: list[Node]) -> str:
    first = nodes[0]
    args = " ".join(f"{k}={value_text(v)}" for k, v in first.params.items())
    rows = [f"This call: `{first.op} {args}`".rstrip() if args else f"This call: `{first.op}`"]
    if len(nodes) > 1:
        rows.append(f"{len(nodes):,} copies (a `repeat` or several block calls):")
    for n in nodes[:MAX_COPIES]:
        state = f", {n.state_count:,} state" if n.state_count else ""
        rows.append(
            f"- layer {n.id}: {example_shape(n.input_shape)} → {example_shape(n.output_shape)}, "
            f"{n.param_count:,} params{state}"
        )
    if len(nodes) > MAX_COPIES:
        rows.append(f"- … and {len(nodes) - MAX_COPIES:,} more")
    return "\n".join(rows)


def _let(a: Analysis, occ: idx.Occurrence) -> str:
    let = a.index.lets.get(occ.name)
    if let is None:
        return ""
    text = f"let {let.name} = {let.value.text}"
    value, seen = let.value, {let.name}
    # A constant defined by another: show what it finally is, as the resolver reads it.
    while value.kind == "name" and value.text in a.index.lets and value.text not in seen:
        seen.add(value.text)
        value = a.index.lets[value.text].value
    if value is not let.value:
        text += f"  # = {value.text}"
    return _code(text)


def _block(a: Analysis, occ: idx.Occurrence) -> str:
    block = a.index.blocks.get(occ.name)
    if block is None:
        return ""
    first, last = block.span.line, block.body.close.line
    shown = a.lines[first - 1 : min(last, first + MAX_DEFINITION_LINES - 1)]
    if last - first + 1 > MAX_DEFINITION_LINES:
        shown.append("  …")
    out = [_code("\n".join(shown))]
    copies = a.expansions().get(occ.span) if a.ir and not occ.definition else None
    if copies and all(copies):
        out.append(f"This call: {example_shape(copies[0][0].input_shape)} {totals_label(copies)}")
    return "\n\n".join(out)


def _param(a: Analysis, occ: idx.Occurrence) -> str:
    block = a.index.blocks.get(occ.scope)
    param = next((p for p in block.params if p.name == occ.name), None) if block else None
    if param is None:
        return ""
    default = f" (default {param.default.text})" if param.default is not None else ""
    return f"parameter `{param.name}` of block `{block.name}`{default}"


def _kwarg(occ: idx.Occurrence) -> str:
    c = occ.call
    if occ.section == "train":
        first = c.args[0].text if c.args else None
        args = setting_args(c.name, first)
    else:
        args = layer_args(c.name)
    arg = next((x for x in args if x.name == occ.name), None)
    if arg is None:
        return ""
    default = "" if arg.required else f", default `{value_text(arg.default)}`"
    extra = f"; one of {', '.join(arg.choices)}" if arg.choices else ""
    return f"`{occ.name}`: {arg.type}{default}{extra}"


def _setting(occ: idx.Occurrence) -> str:
    c = occ.call
    if occ.section == "data":
        return f"{_code(occ.name)}\n\n{setting_doc('data', occ.name)}"
    first = c.args[0].text if c.args else None
    text = _code(setting_signature(c.name, first))
    doc = setting_doc("train", c.name)
    return text + (f"\n\n{doc}" if doc else "")


def hover_text(a: Analysis, line: int, column: int) -> str:
    if a.index is None:
        return ""
    occ = a.index.at(line, column)
    if occ is None:
        return ""
    if occ.kind == idx.LAYER:
        return _layer(a, occ)
    if occ.kind == idx.LET:
        return _let(a, occ)
    if occ.kind == idx.BLOCK:
        return _block(a, occ)
    if occ.kind == idx.PARAM:
        return _param(a, occ)
    if occ.kind == idx.KWARG:
        return _kwarg(occ)
    if occ.kind == idx.SETTING:
        return _setting(occ)
    return ""


def hover(a: Analysis, line: int, column: int, span_range) -> t.Hover | None:
    text = hover_text(a, line, column)
    if not text:
        return None
    occ = a.index.at(line, column)
    return t.Hover(
        contents=t.MarkupContent(kind=t.MarkupKind.Markdown, value=text),
        range=span_range(occ.span),
    )
