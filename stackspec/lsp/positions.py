"""Our positions (1-based lines, 1-based columns counted in characters) and the protocol's
(0-based lines, 0-based columns counted in the negotiated code units: UTF-16 unless the client
offers UTF-8 or UTF-32). A line of ASCII needs no counting, which is nearly every line."""

from __future__ import annotations

UTF16, UTF8, UTF32 = "utf-16", "utf-8", "utf-32"


def units(text: str, encoding: str = UTF16) -> int:
    """The length of `text` in the client's code units."""
    if text.isascii() or encoding == UTF32:
        return len(text)
    if encoding == UTF8:
        return len(text.encode("utf-8"))
    # A character outside the Basic Multilingual Plane is a surrogate pair: two units.
    return len(text) + sum(1 for c in text if ord(c) > 0xFFFF)


def to_client(lines: list[str], line: int, column: int, encoding: str = UTF16) -> tuple[int, int]:
    """(line, column) 1-based, in characters -> (line, character) 0-based, in code units;
    clamped to the text."""
    if line < 1:
        return 0, 0
    if line > len(lines):
        return len(lines) - 1, units(lines[-1], encoding) if lines else 0
    text = lines[line - 1]
    return line - 1, units(text[: max(column - 1, 0)], encoding)


def from_client(
    lines: list[str], line: int, character: int, encoding: str = UTF16
) -> tuple[int, int]:
    """(line, character) 0-based, in code units -> (line, column) 1-based, in characters."""
    if not 0 <= line < len(lines):
        return line + 1, 1
    text = lines[line]
    if text.isascii() or encoding == UTF32:
        return line + 1, min(character, len(text)) + 1
    count = 0
    for i, c in enumerate(text):
        if count >= character:
            return line + 1, i + 1
        count += units(c, encoding)
    return line + 1, len(text) + 1
