"""One CSV cell as a float32 number, and the E5xx problems of cells, reported by row and column.

Shared by the plain reader (data.py) and the data section's encoding (encoding.py).
"""

from __future__ import annotations

import re

import numpy as np

from ..diagnostics import MAX_REPORTED, Diagnostics, Span

# A number is an ASCII decimal literal, spaces or tabs around it allowed: 1, -2.5, +.5, 1.,
# 6.02e23. Not `1_000`, `0x10`, fullwidth or Arabic-Indic digits, though Python's float() and
# NumPy take them. NaN and infinities are words that are named in their own error (E508).
NUMBER = re.compile(r"[ \t]*[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[ \t]*")
NON_FINITE = re.compile(r"[ \t]*[+-]?(?:nan|inf|infinity)[ \t]*", re.IGNORECASE)


def ragged(line: int, cells: int, width: int) -> Problem:
    """E505: a row whose number of cells differs from the header's."""
    message = f"row {line} has {cells} cells, the header has {width}"
    return "E505", message, Span.point(line, min(cells, width) + 1), ""


def shown_columns(header: list[str]) -> str:
    """The header's names for a hint, the first 20 of them."""
    return ", ".join(header[:20]) + (", ..." if len(header) > 20 else "")


def cell_problem(text: str) -> str:
    """'' for a valid cell, else what is wrong with it."""
    if NUMBER.fullmatch(text):
        with np.errstate(over="ignore"):  # as the table's own conversion: via float64
            if np.isfinite(np.float32(float(text))):
                return ""
        return f"'{text.strip()}' is infinite or outside the float32 range"
    if not text.strip():
        return "empty cell"
    if NON_FINITE.fullmatch(text):
        if text.strip().lstrip("+-").lower() == "nan":
            return "NaN is not allowed"
        return f"'{text.strip()}' is infinite or outside the float32 range"
    shown = text if len(text) <= 20 else text[:20] + "..."
    return f"not a number: '{shown}'"


Problem = tuple[str, str, Span, str]  # code, message, where, hint


def report(d: Diagnostics, found: list[Problem], total: int) -> None:
    """Raise the problems `found` (the first ones, in file order) of `total` problems. Past
    MAX_REPORTED, the last one reported says how many more there are."""
    if total > MAX_REPORTED:
        code, _, span, _ = found[MAX_REPORTED - 1]  # the first one not shown
        found = found[: MAX_REPORTED - 1]
        more = total - len(found)
        found.append((code, f"... and {more} more errors from here on, not shown", span, ""))
    for code, message, span, hint in found:
        d.error(code, message, span, hint)
    d.raise_if_errors()


def cell_error(line: int, col: int, header: list[str], what: str) -> Problem:
    code = "E506" if what == "empty cell" else "E507" if what.startswith("not a") else "E508"
    message = f"{what} at row {line}, column {col} ('{header[col - 1]}')"
    return code, message, Span.point(line, col), ""
