"""`stackspec fmt`: canonical layout, idempotent, comments kept, meaning unchanged.

Layout: one statement per line, two-space indentation, `{` at the end of the header and `}` on
its own line. Layer calls the author wrote on one line stay on one line joined by ` | ` (as in
`dense 1024 relu | dropout 0.3 | batchnorm`), the way black keeps a magic trailing comma:
grouping is the author's choice, spacing is not. At most one blank line is kept between
statements. Own-line comments stay before what follows them; a trailing comment stays on the
line of the statement it followed. Literals are printed as written (`1e-3` stays `1e-3`).
"""

from __future__ import annotations

from ..diagnostics import Diagnostics, source_lines
from ..grammar import syntax as s
from ..grammar.parser import parse_program, paused_gc
from ..limits import DEFAULT, Limits
from .overrides import check_override_names

INDENT = "  "


def format_source(
    source: str, file: str = "<spec>", overrides: dict | None = None, limits: Limits = DEFAULT
) -> str:
    """The canonical form of `source`; raises SpecError if it does not parse.

    `overrides` (`--set`) are only checked to name constants of the file: formatting keeps
    what was written. `limits` bound the file's size and nesting, as for every command."""
    diags = Diagnostics(file)
    with paused_gc():
        program = parse_program(source, diags, limits)
    if program is not None and overrides:
        lets = [st.name for st in program.stmts if isinstance(st, s.Let)]
        check_override_names(overrides, lets, diags)
    diags.raise_if_errors(source)
    return _Formatter(source, program).run()


def _value(v: s.Value) -> str:
    return v.text


def _call(c: s.Call) -> str:
    # In the order written: a positional argument after a keyword one is an error (E209)
    # that formatting must neither hide nor change into another.
    parts = [(v.span.line, v.span.column, _value(v)) for v in c.args]
    parts += [(k.span.line, k.span.column, f"{k.name}={_value(k.value)}") for k in c.kwargs]
    return " ".join([c.name, *(text for _, _, text in sorted(parts))])


class _Formatter:
    def __init__(self, source: str, program: s.Program):
        self.lines = source_lines(source)
        self.program = program
        self.out: list[str] = []
        self.trailing: dict[int, str] = {}
        self.own_line: list[s.Comment] = []
        for c in program.comments:
            before = self.lines[c.line - 1][: c.column - 1]
            if before.strip():
                self.trailing[c.line] = c.text
            else:
                self.own_line.append(c)

    def run(self) -> str:
        self.level(self.program.stmts, 0, len(self.lines) + 1, 0)
        while self.out and not self.out[-1]:
            self.out.pop()
        return "\n".join(self.out) + "\n" if self.out else ""

    def emit(self, text: str, depth: int, covers: range) -> None:
        for line in covers:
            if line in self.trailing:
                text += "  " + self.trailing.pop(line)
                break
        self.out.append(INDENT * depth + text)

    def blank_between(self, a: int, b: int) -> bool:
        return any(
            not self.lines[i - 1].strip() for i in range(a + 1, b) if 0 < i <= len(self.lines)
        )

    def level(self, stmts, start: int, end: int, depth: int) -> None:
        """Statements and own-line comments strictly between source lines start and end."""
        items: list[tuple[int, int, object]] = []
        for group in _groups(stmts):
            items.append((s.first_line(group[0]), s.last_line(group[-1]), group))
        taken = [(a, b) for a, b, _ in items]
        for c in self.own_line:
            if start < c.line < end and not any(a <= c.line <= b for a, b in taken):
                items.append((c.line, c.line, c))
        items.sort(key=lambda it: it[0])
        prev_end = None
        for first, last, item in items:
            if prev_end is not None and self.blank_between(prev_end, first):
                self.out.append("")
            if isinstance(item, s.Comment):
                self.out.append(INDENT * depth + item.text)
            else:
                self.group(item, depth)
            prev_end = last

    def group(self, group: list, depth: int) -> None:
        if len(group) > 1 or isinstance(group[0], s.Call):
            line = group[0].span.line
            self.emit(
                " | ".join(_call(c) for c in group), depth, range(line, s.last_line(group[-1]) + 1)
            )
            return
        st = group[0]
        if isinstance(st, s.Input):
            self.emit(f"input {_value(st.shape)}", depth, range(st.span.line, s.last_line(st) + 1))
        elif isinstance(st, s.Let):
            self.emit(
                f"let {st.name} = {_value(st.value)}",
                depth,
                range(st.span.line, s.last_line(st) + 1),
            )
        elif isinstance(st, s.Block):
            params = ", ".join(
                p.name if p.default is None else f"{p.name}={_value(p.default)}" for p in st.params
            )
            self.body(f"block {st.name}({params})", st.body, depth, st.span.line)
        elif isinstance(st, s.Repeat):
            self.body(f"repeat {_value(st.count)}", st.body, depth, st.span.line)
        elif isinstance(st, s.Residual):
            self.body("residual", st.body, depth, st.span.line)
        elif isinstance(st, s.Join):
            self.body(st.op, st.body, depth, st.span.line)
        elif isinstance(st, s.Branch):
            self.body("branch", st.body, depth, st.span.line)
        elif isinstance(st, s.Train):
            self.body("train", st.body, depth, st.span.line)
        elif isinstance(st, s.Data):
            self.body("data", st.body, depth, st.span.line)

    def body(self, header: str, body: s.Body, depth: int, line: int) -> None:
        if not body.stmts and not any(
            body.open.line < c.line < body.close.line for c in self.own_line
        ):
            self.emit(header + " {}", depth, range(line, body.close.line + 1))
            return
        # When the first statement shares the `{` line, a comment at the end of that line
        # follows the statement, not the header.
        header_lines = range(line, body.open.line + (0 if _inline(body) else 1))
        self.emit(header + " {", depth, header_lines)
        self.level(
            body.stmts,
            body.open.line - 1 if _inline(body) else body.open.line,
            body.close.line,
            depth + 1,
        )
        self.emit("}", depth, range(body.close.line, body.close.line + 1))


def _inline(body: s.Body) -> bool:
    return bool(body.stmts) and s.first_line(body.stmts[0]) == body.open.line


def _groups(stmts) -> list[list]:
    """Consecutive layer calls that start on the same source line form one group."""
    groups: list[list] = []
    for st in stmts:
        if (
            isinstance(st, s.Call)
            and groups
            and isinstance(groups[-1][-1], s.Call)
            and groups[-1][-1].span.line == st.span.line
        ):
            groups[-1].append(st)
        else:
            groups.append([st])
    return groups
