"""The outline (blocks, constants, the input, the train and data sections), and go to
definition, references and rename for blocks, constants and block parameters."""

from __future__ import annotations

import re

from lsprotocol import types as t

from ..diagnostics import Span
from ..grammar import syntax as s
from ..grammar.lexical import KEYWORDS
from ..layers import ALIASES, LAYERS
from . import index as idx
from .analysis import Analysis
from .registry import STATEMENT_KEYWORDS

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
S = t.SymbolKind


def _join(a: Span, b: Span) -> Span:
    return Span(a.line, a.column, b.end_line, b.end_column)


def _symbol(name, kind, whole: Span, selection: Span, rng, detail="", children=None):
    return t.DocumentSymbol(
        name=name,
        kind=kind,
        range=rng(whole),
        selection_range=rng(selection),
        detail=detail or None,
        children=children,
    )


def document_symbols(a: Analysis, rng) -> list[t.DocumentSymbol]:
    """`rng` turns a Span into a protocol Range. Layers are not listed: a 10,000-layer spec
    would bury its blocks, and the inlay hints already show each layer."""
    if a.index is None:
        return []
    out = []
    for st in a.compiled.program.stmts:
        if isinstance(st, s.Let):
            whole = _join(st.span, st.value.span)
            out.append(_symbol(st.name, S.Constant, whole, st.span, rng, st.value.text))
        elif isinstance(st, s.Block):
            whole = _join(st.span, st.body.close)
            params = [
                _symbol(
                    p.name, S.Variable, p.span, p.span, rng, p.default.text if p.default else ""
                )
                for p in st.params
            ]
            detail = "(" + ", ".join(p.name for p in st.params) + ")"
            out.append(_symbol(st.name, S.Function, whole, st.span, rng, detail, params))
        elif isinstance(st, s.Input):
            whole = _join(st.span, st.shape.span)
            out.append(_symbol("input", S.Field, whole, st.span, rng, st.shape.text))
        elif isinstance(st, (s.Train, s.Data)):
            name = "train" if isinstance(st, s.Train) else "data"
            settings = [
                _symbol(c.name, S.Property, c.end, c.span, rng, " ".join(_args(c)))
                for c in st.body.stmts
                if isinstance(c, s.Call)
            ]
            whole = _join(st.span, st.body.close)
            out.append(_symbol(name, S.Module, whole, st.span, rng, children=settings))
    return out


def _args(c: s.Call) -> list[str]:
    return [v.text for v in c.args] + [f"{k.name}={k.value.text}" for k in c.kwargs]


def _named(a: Analysis, line: int, column: int) -> idx.Occurrence | None:
    """The block, constant or parameter under the cursor, if it is one."""
    if a.index is None:
        return None
    occ = a.index.at(line, column)
    return occ if occ is not None and occ.kind in (idx.LET, idx.BLOCK, idx.PARAM) else None


def definition(a: Analysis, line: int, column: int) -> Span | None:
    occ = _named(a, line, column)
    if occ is None:
        return None
    return next((o.span for o in a.index.refs.get(occ.key, ()) if o.definition), None)


def references(a: Analysis, line: int, column: int, include_definition: bool) -> list[Span]:
    occ = _named(a, line, column)
    if occ is None:
        return []
    return [o.span for o in a.index.refs.get(occ.key, ()) if include_definition or not o.definition]


def rename_target(a: Analysis, line: int, column: int) -> Span | None:
    """The span of the renamable name under the cursor (prepareRename)."""
    occ = _named(a, line, column)
    return occ.span if occ is not None else None


def rename_problem(a: Analysis, occ: idx.Occurrence, new: str) -> str:
    """Why `new` cannot replace the name, or ''."""
    if not NAME.fullmatch(new):
        return f"'{new}' is not a name: letters, digits and _, not starting with a digit"
    if new in KEYWORDS or new in STATEMENT_KEYWORDS:
        return f"'{new}' is a keyword"
    if occ.kind == idx.BLOCK and (new in LAYERS or new in ALIASES):
        return f"a block may not be named like the built-in layer '{new}'"
    taken = set(a.index.lets) | set(a.index.blocks)
    if occ.kind == idx.PARAM:
        block = a.index.blocks[occ.scope]
        taken = {p.name for p in block.params}
    if new in taken and new != occ.name:
        return f"'{new}' is already defined"
    # Inside a block its parameters hide the constants: a rename must not change what a use
    # of either refers to.
    if occ.kind == idx.LET:
        for o in a.index.refs.get(occ.key, ()):
            block = a.index.blocks.get(o.within)
            if block is not None and any(p.name == new for p in block.params):
                return f"'{new}' is a parameter of block '{block.name}', which uses '{occ.name}'"
    if occ.kind == idx.PARAM and any(
        o.within == occ.scope for o in a.index.refs.get((idx.LET, "", new), ())
    ):
        return f"block '{occ.scope}' uses the constant '{new}'"
    return ""


def rename(a: Analysis, line: int, column: int, new: str) -> tuple[list[Span], str]:
    """The spans to rewrite to `new`, or a reason why not."""
    occ = _named(a, line, column)
    if occ is None:
        return [], "only a block, a constant or a block parameter can be renamed here"
    problem = rename_problem(a, occ, new)
    if problem:
        return [], problem
    return [o.span for o in a.index.refs.get(occ.key, ())], ""
