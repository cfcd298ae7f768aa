"""Search spaces (docs/tuning.md): a `let` that holds `choice(a, b, ...)`, `uniform(low, high)`,
`loguniform(low, high)` or `int(low, high)` instead of a value.

Everything that compiles a spec sees one value per constant: a space not fixed by `--set` is
its first choice or its lowest value, with warning W205 saying so. `stackspec tune` samples
each space and passes the values as `--set`; `summary --space` compiles the corners.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

from ..diagnostics import Diagnostics, Span, did_you_mean, source_lines
from ..grammar import syntax as s
from ..records import record

# A space's function -> how it is written, for messages. `int` bounds are inclusive, as
# Optuna's suggest_int takes them; `uniform` and `loguniform` draw floats in [low, high].
SPACES = {
    "choice": "choice(a, b, ...)",
    "uniform": "uniform(low, high)",
    "loguniform": "loguniform(low, high)",
    "int": "int(low, high)",
}
RANGES = ("uniform", "loguniform", "int")
MAX_CORNERS = 256  # summary --space compiles at most this many combinations


@record
class Space:
    """A checked search space of the `let` named `name`: its kind (a SPACES key), the choices
    (Values, for choice) or the bounds (numbers, for the ranges), and the text as written."""

    name: str
    kind: str
    choices: tuple[s.Value, ...]
    low: float | int | None
    high: float | int | None
    text: str
    span: Span


def read_space(name: str, v: s.Value, diags: Diagnostics) -> Space | None:
    """The space `v` holds (kind space), or None after reporting why it is not one (E215)."""
    kind, args = v.value
    where = Span(v.span.line, v.span.column, v.span.line, v.span.column + len(kind))
    if kind not in SPACES:
        diags.error(
            "E215",
            f"unknown search space '{kind}'{did_you_mean(kind, SPACES)}",
            where,
            "spaces: " + ", ".join(SPACES.values()),
        )
        return None
    if any(a.kind == "invalid" for a in args):
        return None
    if kind == "choice":
        return _choice(name, v, args, where, diags)
    return _range(name, v, kind, args, where, diags)


def _choice(name, v, args, where, diags) -> Space | None:
    if not args:
        diags.error("E215", "choice: needs at least one value, got none", where)
        return None
    kinds = {a.kind for a in args}
    if "list" in kinds or "space" in kinds:
        bad = next(a for a in args if a.kind in ("list", "space"))
        diags.error("E215", f"choice: a value must be a single value, got {bad.text}", bad.span)
        return None
    if len(kinds) > 1:
        odd = next(a for a in args if a.kind != args[0].kind)
        diags.error(
            "E215",
            f"choice: values must all be of one kind, got {args[0].text} ({args[0].kind}) "
            f"and {odd.text} ({odd.kind})",
            odd.span,
        )
        return None
    return Space(name, "choice", tuple(args), None, None, v.text, v.span)


def _range(name, v, kind, args, where, diags) -> Space | None:
    if len(args) != 2:
        diags.error("E215", f"{kind}: takes two values, got {len(args)}", where, SPACES[kind])
        return None
    low, high = args
    for bound, what in ((low, "low"), (high, "high")):
        if bound.kind != "number":
            diags.error("E215", f"{kind}: {what} must be a number, got {bound.text}", bound.span)
            return None
        if kind == "int" and not isinstance(bound.value, int):
            diags.error(
                "E215",
                f"int: {what} must be an integer, got {bound.text}",
                bound.span,
                "use uniform(low, high) for a range of floats",
            )
            return None
    if kind == "loguniform" and low.value <= 0:
        diags.error(
            "E215",
            f"loguniform: low must be above 0, got {low.text}",
            low.span,
            "a log scale has no zero; use uniform(low, high) for a range that includes it",
        )
        return None
    if low.value >= high.value:
        diags.error(
            "E215", f"{kind}: low must be below high, got {low.text} and {high.text}", high.span
        )
        return None
    return Space(name, kind, (), low.value, high.value, v.text, v.span)


def default_text(space: Space) -> str:
    """What a space stands for when nothing fixes it: its first choice, its lowest value."""
    if space.kind == "choice":
        return space.choices[0].text
    return value_text(float(space.low) if space.kind != "int" else space.low)


def value_text(x) -> str:
    """A sampled value as `--set` takes it: bools as the spec writes them, floats in full."""
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, float):
        return repr(x)
    return str(x)


def fix_spaces(lets: dict, overrides: dict, diags: Diagnostics) -> dict[str, Space]:
    """Each `let` holding a space gets its default value (W205 says so) unless `--set` fixes
    it; a space that is not one (E215) becomes an invalid value that later checks skip. The
    spaces, checked, by name."""
    from .overrides import parse_override

    spaces = {}
    for name, let in list(lets.items()):
        if let.value.kind != "space":
            continue
        space = read_space(name, let.value, diags)
        if space is None:
            lets[name] = replace(let, value=replace(let.value, kind="invalid"))
            continue
        spaces[name] = space
        if name in overrides:
            continue
        text = default_text(space)
        lets[name] = replace(let, value=replace(parse_override(text), span=let.value.span))
        which = "first value" if space.kind == "choice" else "lowest value"
        diags.warning(
            "W205",
            f"'{name}' is a search space, {space.text}: its {which} {text} is used here",
            let.span,
            f"fix it with --set {name}=VALUE, or search it with `stackspec tune`",
        )
    return spaces


def spaces_of(source: str) -> dict[str, Space]:
    """The valid search spaces of a spec's text, by name (errors are left to `check`)."""
    from ..grammar.parser import parse_program

    program = parse_program(source, Diagnostics())
    if program is None:
        return {}
    out = {}
    for st in program.stmts:
        if isinstance(st, s.Let) and st.value.kind == "space":
            space = read_space(st.name, st.value, Diagnostics())
            if space is not None and st.name not in out:
                out[st.name] = space
    return out


def corners(spaces: dict[str, Space]) -> list[dict[str, str]]:
    """Every combination of the spaces' corners (each choice; each range's low and high), as
    `--set` values, at most MAX_CORNERS of them."""
    axes = []
    for name, sp in spaces.items():
        if sp.kind == "choice":
            values = [c.text for c in sp.choices]
        else:
            values = [default_text(sp), value_text(sp.high if sp.kind == "int" else float(sp.high))]
        axes.append([(name, v) for v in values])
    return [dict(combo) for combo in itertools.islice(itertools.product(*axes), MAX_CORNERS)]


def corner_count(spaces: dict[str, Space]) -> int:
    return math.prod(len(sp.choices) if sp.kind == "choice" else 2 for sp in spaces.values())


def substitute(source: str, values: dict[str, str]) -> str:
    """The spec's text with each named `let` holding `values[name]` instead of what it held
    (best.stack): only the value's characters change, comments and layout stay."""
    from ..grammar.parser import parse_program

    program = parse_program(source, Diagnostics())
    assert program is not None, "substitute() takes a spec that parses"
    lines = source_lines(source)
    starts = list(itertools.accumulate((len(line) + 1 for line in lines), initial=0))
    edits = []
    for st in program.stmts:
        if isinstance(st, s.Let) and st.name in values:
            sp = st.value.span
            a = starts[sp.line - 1] + sp.column - 1
            b = starts[sp.end_line - 1] + sp.end_column - 1
            edits.append((a, b, values[st.name]))
    for a, b, text in sorted(edits, reverse=True):
        source = source[:a] + text + source[b:]
    return source
