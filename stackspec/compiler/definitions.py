"""A spec's definitions, before any expansion: its `let` constants and blocks by name, the
`--set` overrides applied to the constants, and the blocks on a call cycle (reported once)."""

from __future__ import annotations

from dataclasses import replace

from ..diagnostics import Diagnostics
from ..grammar import syntax as s
from ..layers import ALIASES, LAYERS
from .overrides import check_override_names, parse_override


def collect_definitions(
    program: s.Program, diags: Diagnostics
) -> tuple[dict[str, s.Let], dict[str, s.Block]]:
    """The `let` constants and blocks by name; a name defined twice is reported (E210), and so
    is a block named like a built-in layer (E211) or with a parameter given twice (E207)."""
    lets: dict[str, s.Let] = {}
    blocks: dict[str, s.Block] = {}
    for st in program.stmts:
        if isinstance(st, s.Let):
            if st.name in lets:
                first = lets[st.name].span.line
                diags.error(
                    "E210",
                    f"constant '{st.name}' defined twice (first at line {first})",
                    st.span,
                )
            else:
                lets[st.name] = st
        elif isinstance(st, s.Block):
            _collect_block(st, blocks, diags)
    return lets, blocks


def _collect_block(st: s.Block, blocks: dict[str, s.Block], diags: Diagnostics) -> None:
    if ALIASES.get(st.name, st.name) in LAYERS:
        diags.error(
            "E211",
            f"block '{st.name}' is named like the built-in layer '{st.name}'",
            st.span,
            "choose another name",
        )
        return
    if st.name in blocks:
        first = blocks[st.name].span.line
        diags.error("E210", f"block '{st.name}' defined twice (first at line {first})", st.span)
        return
    blocks[st.name] = st
    seen: set[str] = set()
    for p in st.params:
        if p.name in seen:
            diags.error("E207", f"block '{st.name}': parameter '{p.name}' given twice", p.span)
        seen.add(p.name)


def apply_overrides(lets: dict[str, s.Let], overrides: dict[str, str], diags: Diagnostics) -> None:
    """`--set NAME=VALUE`: the constant's value replaced, at the position of the one written."""
    check_override_names(overrides, lets, diags)
    for name, text in overrides.items():
        if name not in lets:
            continue
        let = lets[name]
        value = replace(parse_override(text), span=let.value.span)
        lets[name] = replace(let, value=value)


def find_recursion(blocks: dict[str, s.Block], diags: Diagnostics) -> set[str]:
    """Blocks on a call cycle; each cycle is reported once, where it closes. A depth-first
    search with an explicit stack: a chain of a thousand blocks, each calling the next, must
    not exhaust Python's stack."""
    calls = {name: list(calls_in(b.body.stmts)) for name, b in blocks.items()}
    bad: set[str] = set()
    done: set[str] = set()
    for root in blocks:
        if root in done:
            continue
        path, on_path = [root], {root}
        pending = [iter(calls[root])]
        while pending:
            call = next(pending[-1], None)
            if call is None:
                finished = path.pop()
                done.add(finished)
                on_path.discard(finished)
                pending.pop()
                continue
            if call.name not in blocks or call.name in done:
                continue
            if call.name in on_path:
                cycle = path[path.index(call.name) :] + [call.name]
                if not bad & set(cycle):
                    what = "calls itself" if len(cycle) == 2 else "is recursive"
                    shown = cycle if len(cycle) <= 8 else [*cycle[:4], "...", *cycle[-3:]]
                    diags.error(
                        "E208",
                        f"block '{call.name}' {what}: {' -> '.join(shown)}",
                        call.span,
                        "blocks may call other blocks but never themselves",
                    )
                bad.update(cycle)
                continue
            path.append(call.name)
            on_path.add(call.name)
            pending.append(iter(calls[call.name]))
    return bad


def calls_in(stmts):
    """Every call in `stmts`, nested bodies included."""
    for st in stmts:
        if isinstance(st, s.Call):
            yield st
        elif isinstance(st, (s.Repeat, s.Residual, s.Join, s.Branch, s.Block)):
            yield from calls_in(st.body.stmts)
