"""Names for syntax errors: what the writer most likely did, instead of Lark's token names.

Imported only when a spec has a syntax error. Each Lark exception becomes (code, message,
span, hint): a dangling `|`, an unclosed `{` naming where it was opened, a keyword argument
without a layer, an unexpected character, a malformed number; otherwise the unexpected token
and, when the list is short, what was expected. An error at the end of the file is placed just
after the last code, never at a line past the end.
"""

from __future__ import annotations

import re

from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from ..diagnostics import Span, source_lines
from .lexical import KEYWORDS, code_of, scan

# Friendly names for the terminals Lark reports as expected.
TOKEN_NAMES = {
    "NAME": "a name",
    "NUMBER": "a number",
    "SHAPE": "a shape",
    "STRING": "a string",
    "PIPE": "'|'",
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "_NL": "a newline",
    "EQUAL": "'='",
    "LPAR": "'('",
    "RPAR": "')'",
    "COMMA": "','",
    "$END": "the end of the file",
    "VALUE": "a value",
}


def _end_position(source: str) -> Span:
    """Just after the last character that is not blank or a comment (line 1, column 1 if none)."""
    end = Span.point(1, 1)
    for i, line in enumerate(source_lines(source), 1):
        code = code_of(line).rstrip()
        if code.strip():
            end = Span.point(i, len(code) + 1)
    return end


def _open_braces(source: str) -> list[Span]:
    stack: list[Span] = []
    for ch, line, col in scan(source):
        if ch == "{":
            stack.append(Span.point(line, col))
        elif ch == "}" and stack:
            stack.pop()
    return stack


def _previous_text(source: str, line: int, column: int) -> str:
    """The code before a position, comments and trailing blanks removed."""
    lines = source_lines(source)[:line]
    lines[-1] = lines[-1][: column - 1]
    return "\n".join(code_of(ln) for ln in lines).rstrip(" \t")


_VALUES = {"NAME", "NUMBER", "SHAPE", "STRING", "TRUE", "FALSE"}


def _expected(names) -> str:
    names = set(names)
    if names >= _VALUES:  # "a value" reads better than six kinds of token
        names = (names - _VALUES) | {"VALUE"}
    friendly = sorted({TOKEN_NAMES.get(n, f"'{n.lower()}'") for n in names})
    if len(friendly) > 6:
        return ""
    return "; expected " + " or ".join(friendly) if friendly else ""


def _bad_chars(line: str, column: int, pattern: str) -> Span:
    """The span from `column` over the characters matching `pattern` (at least one)."""
    m = re.compile(pattern).match(line, column - 1)
    width = max(1, m.end() - m.start()) if m else 1
    return Span(0, column, 0, column + width)


def describe(e: UnexpectedInput, source: str) -> tuple[str, str, Span, str]:
    """(code, message, span, hint) for Lark's exception, naming the likely mistake."""
    if isinstance(e, UnexpectedCharacters):
        return _bad_character(e, source)
    token = getattr(e, "token", None)
    if isinstance(e, UnexpectedEOF) or (token is not None and token.type == "$END"):
        return _at_end(e, source)
    assert isinstance(e, UnexpectedToken)
    return _bad_token(e, source)


def _bad_character(e: UnexpectedCharacters, source: str) -> tuple[str, str, Span, str]:
    text = source_lines(source)[e.line - 1]
    ch = text[e.column - 1] if e.column - 1 < len(text) else "\n"
    point = Span.point(e.line, e.column)
    if ch == '"':
        return "E107", "unterminated string", point, 'close it with `"` on the same line'
    if ch.isdigit() or ch in "-.":
        w = _bad_chars(text, e.column, r"[-+.0-9A-Za-z_]+")
        bad = text[w.column - 1 : w.end_column - 1]
        return (
            "E106",
            f"malformed number '{bad}'",
            Span(e.line, w.column, e.line, w.end_column),
            "numbers look like 3, -0.5, .5 or 1e-3; shapes like 3x3, without spaces",
        )
    hint = ""
    if ch.isalpha():
        hint = "names use ASCII letters, digits and `_` only"
    elif ch in "(),":
        hint = "parentheses appear only in `block` headers: `block name(a, b=1) { ... }`"
    elif ch in ";":
        hint = "separate statements with a newline or `|`"
    return "E101", f"unexpected character {ch!r}", point, hint


def _at_end(e: UnexpectedInput, source: str) -> tuple[str, str, Span, str]:
    span = _end_position(source)
    before = _previous_text(source, span.line, span.column).rstrip()
    if before.endswith("|"):
        return (
            "E103",
            "dangling '|' at the end of the file",
            _last_pipe(source),
            ("remove the '|', or add the layer it announces"),
        )
    opened = _open_braces(source)
    if opened:
        return (
            "E102",
            f"unclosed '{{' opened at line {opened[-1].line}, column {opened[-1].column}",
            span,
            "add '}' to close it",
        )
    return "E104", "unexpected end of file" + _expected(e.expected), span, ""


def _bad_token(e: UnexpectedToken, source: str) -> tuple[str, str, Span, str]:
    token, lines = e.token, source_lines(source)
    span = Span(e.line, e.column, token.end_line or e.line, token.end_column or e.column + 1)
    if token.type == "_NL":
        span = Span.point(e.line, e.column)
    before = _previous_text(source, e.line, e.column)
    name = _statement_start_name(before)
    if token.type in ("RBRACE", "PIPE", "_NL") and before.rstrip().endswith("|"):
        return (
            "E103",
            "dangling '|': no layer after it",
            _last_pipe(source, e),
            ("remove the '|', or add the layer it announces"),
        )
    if token.type == "EQUAL" and name:
        m = re.search(r"([A-Za-z_][A-Za-z0-9_]*)\s*$", lines[e.line - 1][: e.column - 1])
        start = m.start(1) + 1 if m and m.group(1) == name else e.column
        return (
            "E105",
            f"keyword argument '{name}=' without a layer",
            Span(e.line, start, e.line, e.column + 1),
            "inside `train`, a setting's value follows its name: `loss mae`"
            if _inside_train(source, e)
            else "a keyword argument follows its layer's name, e.g. `dropout rate=0.3`",
        )
    if token.type == "RBRACE" and not _open_braces(source[: _offset(source, e.line, e.column)]):
        return "E108", "'}' without a matching '{'", span, ""
    if token.type == "PIPE" and not before.strip(" \t").rsplit("\n", 1)[-1].strip():
        return (
            "E100",
            "unexpected '|' at the start of a statement",
            span,
            ("`|` goes between two layers; to continue a line, end it with `|`"),
        )
    shown = token.value.strip() or TOKEN_NAMES.get(token.type, token.type)
    if token.type == "_NL":
        shown = "end of line"
    return "E100", f"unexpected {shown!r}" + _expected(e.expected), span, ""


def _statement_start_name(before: str) -> str | None:
    """The name just before an error if it opens a statement (so it was read as a layer)."""
    m = re.search(r"(?:^|[|{\n])\s*([A-Za-z_][A-Za-z0-9_]*)\s*$", before)
    return m.group(1) if m and m.group(1) not in KEYWORDS else None


def _inside_train(source: str, e: UnexpectedInput) -> bool:
    opened = _open_braces(source[: _offset(source, e.line, e.column)])
    if not opened:
        return False
    header = _previous_text(source, opened[-1].line, opened[-1].column)
    return bool(re.search(r"(?:^|[|{\n])\s*train\s*$", header))


def _offset(source: str, line: int, column: int) -> int:
    lines = source.split("\n")
    return sum(len(x) + 1 for x in lines[: line - 1]) + column - 1


def _last_pipe(source: str, e: UnexpectedInput | None = None) -> Span:
    """The last `|` in the code before the error (or in the whole file)."""
    limit = None if e is None else _offset(source, e.line, e.column)
    found = Span.point(1, 1)
    for c, line, col in scan(source if limit is None else source[:limit]):
        if c == "|":
            found = Span.point(line, col)
    return found
