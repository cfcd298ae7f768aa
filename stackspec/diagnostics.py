"""Diagnostics: what went wrong, where, and what to do about it (LANGUAGE.md §7).

Every user-facing problem becomes a `Diagnostic`. Checks append to a `Diagnostics` collector
instead of raising, so one run reports every error of a file; `SpecError` carries them out of
the library. Codes: E1xx syntax, E2xx names and arguments, E3xx shapes, E4xx limits, E5xx data
files, E6xx weight files, Wxxx warnings.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict

from .records import record

MAX_REPORTED = 50
MAX_SHOWN = 100  # characters of a source line shown under a diagnostic


# Shapes in messages, in the notation of the docs for each context. A spec's shapes (one example:
# the input, a layer's output) are written as in the spec, `1x28x28`; arrays and tensors (with
# their batch axis, weight tensors) as NumPy prints them, `(512, 11)`, `(N,)`.
def shape_source(shape) -> str:
    """A shape as spec source writes it: 1x28x28 (one size: 11)."""
    return "x".join(map(str, shape))


def example_shape(shape) -> str:
    """One example's shape in a message or the summary: (8x13x13), (11)."""
    return f"({shape_source(shape)})"


def array_shape(shape) -> str:
    """An array's or a tensor's shape as NumPy prints it: (512, 11), (N,), (N, 1, 8, 8)."""
    dims = ", ".join(map(str, shape))
    return f"({dims},)" if len(shape) == 1 else f"({dims})"


@record
class Span:
    """A source range, 1-based; end_column is exclusive (the caret covers column..end_column-1)."""

    line: int
    column: int
    end_line: int
    end_column: int

    @staticmethod
    def point(line: int, column: int) -> Span:
        return Span(line, column, line, column + 1)


NOWHERE = Span(0, 0, 0, 0)


@record
class Diagnostic:
    """One problem: severity, code, message, where, and a hint."""

    severity: str  # "error" or "warning"
    code: str
    message: str
    span: Span = NOWHERE
    hint: str = ""
    file: str = "<spec>"

    def as_dict(self) -> dict:
        d = {"file": self.file, **asdict(self.span)}
        d.update(severity=self.severity, code=self.code, message=self.message, hint=self.hint)
        return d


class UserError(Exception):
    """A user mistake outside any file position (a missing optional package, a bad option).

    The CLI prints `error: <message>` and exits 1, never a traceback.
    """


class SpecError(UserError):
    """A user mistake in a spec, data file, weight file or setting; carries every diagnostic."""

    def __init__(
        self,
        diagnostics: Iterable[Diagnostic],
        source: str | None = None,
        notes: Iterable[str] = (),
    ):
        self.diagnostics = list(diagnostics)
        self.source = source
        self.notes = tuple(notes)  # lines after the diagnostics: "... and 12 more syntax errors"
        super().__init__(render_all(self.diagnostics, source, self.notes))

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]


class Diagnostics:
    """Collects diagnostics for one file; caps the count so a pathological spec stays readable."""

    def __init__(self, file: str = "<spec>"):
        self.file = file
        self.items: list[Diagnostic] = []
        # Shown after the diagnostics, where a check stopped early: "... and 12 more".
        self.notes: list[str] = []

    def error(self, code: str, message: str, span: Span = NOWHERE, hint: str = "") -> None:
        self.items.append(Diagnostic("error", code, message, span, hint, self.file))

    def warning(self, code: str, message: str, span: Span = NOWHERE, hint: str = "") -> None:
        self.items.append(Diagnostic("warning", code, message, span, hint, self.file))

    @property
    def has_errors(self) -> bool:
        return any(d.severity == "error" for d in self.items)

    def raise_if_errors(self, source: str | None = None) -> None:
        if self.has_errors:
            raise SpecError(self.sorted(), source, self.notes)

    def sorted(self) -> list[Diagnostic]:
        """In source order; exact repeats (a block called twice with the same mistake in its
        body, every copy of a `repeat`) are reported once."""
        unique = list(dict.fromkeys(self.items))
        return sorted(unique, key=lambda d: (d.span.line, d.span.column))


def source_lines(source: str) -> list[str]:
    """The lines of `source` as the parser counts them: only `\\n` ends a line (a lone `\\r`,
    a form feed or U+2028 is not a line break for Lark, so `str.splitlines` would disagree)."""
    return [line.removesuffix("\r") for line in source.split("\n")]


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """`; did you mean 'x'?` for the closest valid name, or '' when nothing is close."""
    import difflib  # imported on first use: most runs never need it, and start-up counts

    match = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
    return f"; did you mean '{match[0]}'?" if match else ""


def plural(n: int, word: str) -> str:
    """`1 byte`, `3 bytes`: a count and its noun, for messages."""
    return f"{n} {word}{'s' if n != 1 else ''}"


def printable(text: str) -> str:
    """`text` safe for a terminal: control and other non-printable characters (ESC, NUL, a
    carriage return, U+2028, ...) become Python escapes, so a hostile file name, CSV cell or
    column name can neither move the cursor nor clear the screen. Printable text is unchanged."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def render(d: Diagnostic, lines: list[str] | None = None) -> str:
    """`file:line:col: error[E201]: message`, then the source line and a caret under the span.
    Every user-supplied string (file name, message, hint) is shown through `printable`."""
    where = f"{d.file}:{d.span.line}:{d.span.column}" if d.span.line else d.file
    out = [printable(f"{where}: {d.severity}[{d.code}]: {d.message}")]
    if lines is not None and 0 < d.span.line <= len(lines):
        # One column per character, as the parser counts them; control characters would move
        # the terminal's cursor, so they are shown as blanks.
        text = "".join(c if c.isprintable() else " " for c in lines[d.span.line - 1])
        column = d.span.column
        width = len(text) + 1 - column
        if d.span.end_line == d.span.line:
            width = d.span.end_column - column
        if len(text) > MAX_SHOWN:  # keep a window around the caret on very long lines
            start = max(0, column - 1 - MAX_SHOWN // 2)
            text = "..." + text[start : start + MAX_SHOWN] + "..."
            column -= start - 3
        width = max(1, min(width, len(text) + 1 - column))
        gutter = str(d.span.line)
        out.append(f"  {gutter} | {text}")
        out.append(f"  {' ' * len(gutter)} | {' ' * (column - 1)}{'^' * width}")
    if d.hint:
        out.append(f"  = hint: {printable(d.hint)}")
    return "\n".join(out)


def render_all(
    diagnostics: list[Diagnostic], source: str | None = None, notes: Iterable[str] = ()
) -> str:
    """The diagnostics rendered, at most MAX_REPORTED, then "... and N more" and `notes`."""
    lines = source_lines(source) if source is not None else None
    shown = [render(d, lines) for d in diagnostics[:MAX_REPORTED]]
    if len(diagnostics) > MAX_REPORTED:
        shown.append(f"... and {len(diagnostics) - MAX_REPORTED} more")
    shown += [printable(note) for note in notes]
    return "\n".join(shown)


def to_json(diagnostics: list[Diagnostic], limit: int | None = MAX_REPORTED) -> str:
    """The `--json` array (LANGUAGE.md §7); `limit=None` when the caller capped each file."""
    import json

    return json.dumps([d.as_dict() for d in diagnostics[:limit]], indent=2)
