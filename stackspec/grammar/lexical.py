"""What the lexer sees of spec text: each line's code without its comment, and the keywords.

Shared by the parser (limits checked before parsing, comments for fmt) and by syntax_errors
(placing an error), which therefore need not import each other.
"""

from __future__ import annotations

KEYWORDS = frozenset(["input", "let", "block", "repeat", "residual", "train", "true", "false"])


def code_of(line: str) -> str:
    """A line without its comment; strings are kept but cannot hide a `#` or a brace."""
    out, in_str, escape = [], False, False
    for ch in line:
        if in_str:
            if escape:
                escape = False
            elif ch == "\\":
                escape = True
            elif ch == '"':
                in_str = False
            out.append(" ")
            continue
        if ch == "#":
            break
        if ch == '"':
            in_str = True
        out.append(ch)
    return "".join(out)


def scan(source: str):
    """Yield (char, line, column) for the code's characters: strings, comments and blanks are
    left out (the string and comment rules live in `code_of` alone)."""
    for number, line in enumerate(source.split("\n"), 1):
        for column, ch in enumerate(code_of(line), 1):
            if ch not in ' \t\r"':
                yield ch, number, column
