"""Name resolution and expansion: `let`, blocks, `repeat`; `residual` and joins stay nested.

The result is a flat list of built-in layer calls whose argument values are literals (names
that are neither block parameters nor constants stay symbols, for the layer to judge). Limits
on layer count and nesting are enforced while expanding, so a spec that would expand to
millions of layers stops at the first layer past the limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..diagnostics import Diagnostics, Span, did_you_mean, plural
from ..grammar import syntax as s
from ..layers import ALIASES, LAYERS
from ..layers.args import match
from ..limits import DEFAULT, Limits
from .definitions import apply_overrides, calls_in, collect_definitions, find_recursion
from .items import Item, JoinCall, LayerCall, ResidualCall, Unknown
from .settings import SETTINGS


@dataclass
class Resolved:
    """The expanded spec: input value, layer items and train settings."""

    input: s.Value | None = None
    input_seen: bool = False  # an `input` statement exists, even a misplaced one
    items: list[Item] = field(default_factory=list)
    train: list[s.Call] = field(default_factory=list)
    data: list[s.Call] | None = None  # None: the spec has no data section
    names: tuple[str, ...] = ()
    # (statement span, first, end) for each expansion of a `repeat` or a block call: the
    # layers it produced are the IR's walk() order [first:end] (the language server's totals).
    expansions: list[tuple[Span, int, int]] = field(default_factory=list)


class _TooBig(Exception):
    pass


def _positional_after_keyword(c: s.Call) -> s.Value | None:
    """The first positional argument written after a keyword argument (`dense units=4 relu`)."""
    if not c.kwargs:
        return None
    first = (c.kwargs[0].span.line, c.kwargs[0].span.column)
    return next((v for v in c.args if (v.span.line, v.span.column) > first), None)


class Resolver:
    def __init__(
        self,
        program: s.Program,
        diags: Diagnostics,
        overrides: dict[str, str] | None = None,
        limits: Limits = DEFAULT,
    ):
        self.diags = diags
        self.limits = limits
        self.used: set[str] = set()
        self.count = 0
        self.outer_call: Span | None = None  # the outermost block call being expanded
        self.expansions: list[tuple[Span, int, int]] = []
        self.program = program
        self.lets, self.blocks = collect_definitions(program, diags)
        self.spaces = {}
        if any(let.value.kind == "space" for let in self.lets.values()):
            from .spaces import fix_spaces  # search spaces are rare: not imported for the rest

            self.spaces = fix_spaces(self.lets, overrides or {}, diags)
        apply_overrides(self.lets, overrides or {}, diags)
        self.recursive = find_recursion(self.blocks, diags)

    # --- values ------------------------------------------------------------------------

    def value(self, v: s.Value, env: dict[str, s.Value]) -> s.Value:
        if v.kind != "name":
            return v
        if v.text in env:
            # A block argument keeps the position where the caller wrote it: a bad value is
            # the caller's mistake, not the block's.
            return env[v.text]
        # A loop, not recursion: a chain of a thousand constants, each defined by the one
        # before, must not exhaust Python's stack.
        use, seen = v, set()
        while v.kind == "name" and v.text in self.lets:
            self.used.add(v.text)
            if v.text in seen:
                self.diags.error(
                    "E208", f"constant '{v.text}' is defined in terms of itself", v.span
                )
                return replace(v, kind="invalid", span=use.span)
            seen.add(v.text)
            v = self.lets[v.text].value
        return v if v is use else replace(v, span=use.span)

    def _names(self, env: dict) -> tuple[str, ...]:
        return tuple(env) + tuple(self.lets)

    # --- expansion ---------------------------------------------------------------------

    def resolve(self) -> Resolved:
        out = Resolved(names=tuple(self.lets), expansions=self.expansions)
        layers_seen = False
        seen: dict[type, s.Stmt] = {}
        try:
            for st in self.program.stmts:
                if isinstance(st, s.Input):
                    self._input(st, out, layers_seen)
                elif isinstance(st, (s.Train, s.Data)):
                    what = "train" if isinstance(st, s.Train) else "data"
                    if type(st) in seen:
                        self.diags.error(
                            "E214",
                            f"a second `{what}` section "
                            f"(the first is at line {seen[type(st)].span.line})",
                            st.span,
                        )
                        continue
                    seen[type(st)] = st
                    if what == "train":
                        out.train = self._train(st)
                    else:
                        out.data = self._settings(st, "data", resolve_names=False)
                elif not isinstance(st, (s.Let, s.Block)):
                    layers_seen = True
                    out.items.extend(self._stmt(st, {}, 0, ""))
        except _TooBig:
            pass
        self._warn_unused()
        return out

    def _input(self, st: s.Input, out: Resolved, layers_seen: bool) -> None:
        if out.input_seen:
            self.diags.error("E214", "`input` given twice", st.span)
            return
        if layers_seen:
            # Still used for the shapes, so the misplaced line is the only error.
            self.diags.error(
                "E214",
                "`input` must come before the first layer",
                st.span,
                "move it to the top of the file",
            )
        out.input_seen = True
        out.input = self.value(st.shape, {})

    def _warn_unused(self) -> None:
        for name, let in self.lets.items():
            if name not in self.used and let.span.line:
                self.diags.warning("W201", f"constant '{name}' is never used", let.span)
        called = {c.name for c in calls_in(self.program.stmts)}
        for name, block in self.blocks.items():
            if name not in called:
                self.diags.warning("W202", f"block '{name}' is never called", block.span)

    def _train(self, st: s.Train) -> list[s.Call]:
        return self._settings(st, "train", resolve_names=True)

    def _settings(self, st: s.Train | s.Data, what: str, resolve_names: bool) -> list[s.Call]:
        """A section's setting calls. In `data { }` names are column names and values as
        written, so constants are not substituted there."""
        calls = []
        example = "`loss mae`" if what == "train" else "`target quality`"
        for inner in st.body.stmts:
            if not isinstance(inner, s.Call):
                self.diags.error(
                    "E214",
                    f"only settings such as {example} may appear in `{what} {{ }}`",
                    inner.span,
                )
            elif self._order_ok(inner, inner.name):
                calls.append(self._resolved_call(inner, {}) if resolve_names else inner)
        return calls

    def _order_ok(self, c: s.Call, owner: str) -> bool:
        late = _positional_after_keyword(c)
        if late is not None:
            self.diags.error(
                "E209",
                f"{owner}: positional argument '{late.text}' after a keyword argument",
                late.span,
                "write positional arguments first, then name=value ones",
            )
        return late is None

    def _resolved_call(self, c: s.Call, env: dict) -> s.Call:
        args = tuple(self.value(v, env) for v in c.args)
        kwargs = tuple(replace(k, value=self.value(k.value, env)) for k in c.kwargs)
        return replace(c, args=args, kwargs=kwargs)

    def _stmts(self, stmts, env: dict, depth: int, context: str) -> list[Item]:
        out: list[Item] = []
        for st in stmts:
            out.extend(self._stmt(st, env, depth, context))
        return out

    def _stmt(self, st: s.Stmt, env: dict, depth: int, context: str) -> list[Item]:
        if depth > self.limits.depth:
            self._too_big(
                "E403",
                f"nesting deeper than {self.limits.depth} levels (blocks, repeat, residual)",
                st.span,
                context,
                "call fewer blocks within blocks",
            )
        if isinstance(st, s.Call):
            return self._call(st, env, depth, context)
        if isinstance(st, s.Repeat):
            return self._repeat(st, env, depth, context)
        if isinstance(st, s.Residual):
            self._count(st.span, context)
            body = self._stmts(st.body.stmts, env, depth + 1, context)
            return [ResidualCall(st.span, st.body.close, tuple(body), context)]
        if isinstance(st, s.Join):
            return self._join(st, env, depth, context)
        if isinstance(st, s.Branch):
            self.diags.error(
                "E214",
                "`branch` is allowed only directly inside `concat { }` or `add { }`",
                st.span,
            )
            return [Unknown(st.span)]
        where = {
            s.Input: "`input`",
            s.Let: "`let`",
            s.Block: "`block`",
            s.Train: "`train`",
            s.Data: "`data`",
        }[type(st)]
        self.diags.error("E214", f"{where} is only allowed at the top level", st.span)
        return []

    def _join(self, st: s.Join, env: dict, depth: int, context: str) -> list[Item]:
        self._count(st.span, context)
        branches, spans, ok = [], [], True
        for inner in st.body.stmts:
            if not isinstance(inner, s.Branch):
                self.diags.error(
                    "E214",
                    f"`{st.op}` holds only `branch {{ ... }}` statements",
                    inner.span,
                    f"wrap each path in `branch {{ ... }}`: {st.op} {{ branch {{ ... }} ... }}",
                )
                ok = False
                continue
            branches.append(tuple(self._stmts(inner.body.stmts, env, depth + 2, context)))
            spans.append(inner.span)
        if ok and len(branches) < 2:
            self.diags.error(
                "E214",
                f"`{st.op}` needs at least two branches, got {len(branches)}",
                st.span,
                "a single path needs no join: write its layers directly",
            )
        if not ok or len(branches) < 2:
            return [Unknown(st.span)]
        return [JoinCall(st.op, st.span, tuple(branches), tuple(spans), context)]

    def _repeat(self, st: s.Repeat, env: dict, depth: int, context: str) -> list[Item]:
        count = self.value(st.count, env)
        if count.kind == "invalid":
            return [Unknown(st.span)]
        if count.kind != "number" or not isinstance(count.value, int):
            space = self.spaces.get(st.count.text) if st.count.kind == "name" else None
            got = f"'{space.name}', {space.text}" if space else count.text
            self.diags.error(
                "E204",
                f"repeat: count must be an integer, got {got}",
                count.span,
                "search whole numbers with int(low, high)" if space else "",
            )
            return [Unknown(st.span)]
        if count.value < 1:
            self.diags.error(
                "E205", f"repeat: count must be at least 1, got {count.text}", count.span
            )
            return [Unknown(st.span)]
        out: list[Item] = []
        first = self.count
        for _ in range(count.value):
            before = len(self.diags.items)
            copy = self._stmts(st.body.stmts, env, depth + 1, context)
            out.extend(copy)
            # Report a bad body once, not once per copy; an empty body stays empty, however
            # large the count.
            if len(self.diags.items) > before or not copy:
                break
        self.expansions.append((st.span, first, self.count))
        return out

    def _count(self, span: Span, context: str) -> None:
        self.count += 1
        if self.count > self.limits.layers:
            self._too_big(
                "E402",
                f"the spec expands to more than {self.limits.layers:,} layers",
                span,
                context,
                "reduce `repeat` counts",
            )

    def _too_big(self, code: str, message: str, span: Span, context: str, hint: str) -> None:
        """Report a limit passed while expanding, then stop. Inside a block, the error points at
        the outermost block call whose expansion passes it (the call a user would change), and
        says where in the blocks the limit was passed."""
        top = self.outer_call if context and self.outer_call else span
        if top != span:
            # The innermost block call alone: the whole chain can be hundreds of calls long.
            inner = f", {context.split(', ')[-1]}" if context else ""
            message += f" (passed at line {span.line}{inner})"
        self.diags.error(code, message, top, hint)
        raise _TooBig

    def _call(self, c: s.Call, env: dict, depth: int, context: str) -> list[Item]:
        if c.name in self.blocks:
            if c.name in self.recursive or not self._order_ok(c, f"block '{c.name}'"):
                return [Unknown(c.span)]
            block = self.blocks[c.name]
            inner = self._bind_block(block, self._resolved_call(c, env))
            if inner is None:
                return [Unknown(c.span)]
            here = f"in block '{c.name}' called at line {c.span.line}"
            if not context:
                self.outer_call = c.span
            first = self.count
            out = self._stmts(
                block.body.stmts, inner, depth + 1, f"{context}, {here}" if context else here
            )
            self.expansions.append((c.span, first, self.count))
            return out
        op = ALIASES.get(c.name, c.name)
        if op not in LAYERS:
            self._unknown_layer(c)
            return [Unknown(c.span)]
        self._count(c.span, context)
        if not self._order_ok(c, c.name):
            return [Unknown(c.span)]
        r = self._resolved_call(c, env)
        return [LayerCall(op, r.args, r.kwargs, c.span, self._names(env), context)]

    def _unknown_layer(self, c: s.Call) -> None:
        hint = ""
        if c.name in SETTINGS:
            hint = "training settings go inside `train { ... }`"
        elif c.name in ("input", "let", "block", "repeat", "residual", "branch", "train", "data"):
            hint = f"`{c.name}` is a statement, not a layer"
        valid = tuple(LAYERS) + tuple(ALIASES) + tuple(self.blocks)
        self.diags.error(
            "E201", f"unknown layer '{c.name}'{did_you_mean(c.name, valid)}", c.span, hint
        )

    def _bind_block(self, block: s.Block, c: s.Call) -> dict[str, s.Value] | None:
        owner, names = f"block '{block.name}'", [p.name for p in block.params]
        n = len(names)
        too_many = (f"{owner} takes {plural(n, 'positional argument')}, got {len(c.args)}", "")
        bound, ok = match(owner, names, names, c.args, c.kwargs, self.diags, too_many, "parameters")
        for p in block.params:
            if p.name in bound:
                continue
            if p.default is None:
                self.diags.error("E206", f"{owner}: missing argument '{p.name}'", c.span)
                ok = False
            else:
                # Defaults see the constants, not the caller's parameters.
                bound[p.name] = self.value(p.default, {})
        return bound if ok else None


def resolve(
    program: s.Program,
    diags: Diagnostics,
    overrides: dict[str, str] | None = None,
    limits: Limits = DEFAULT,
) -> Resolved:
    return Resolver(program, diags, overrides, limits).resolve()
