"""A data column of per-row weights (`weight_column`, `--weight-column`; LANGUAGE.md §12).

The column is not a feature, like the target. Training reads it: every cell a finite number
>= 0, a bad one an E5xx error naming its row and column. Evaluate and predict leave it out of the
features when it is there and never read it. The readers pass one of three modes:
"require" (training: the column must be there), "read" (the API's read_data: when it is
there), "ignore" (evaluate, predict, a validation file).
"""

from __future__ import annotations

import numpy as np

from ..diagnostics import MAX_REPORTED, Diagnostics, Span, did_you_mean
from .cells import cell_error, cell_problem, report, shown_columns

MODES = ("require", "read", "ignore")


def in_effect(ir, flag: str | None = None) -> str | None:
    """The weight column: --weight-column's, else the train section's, else None."""
    return flag if flag is not None else ir.train.get("weight_column")


def column(header: list[str], name: str | None, mode: str, taken: dict[int, str], d) -> int | None:
    """The weight column's index, None when there is none to use. E504 when training needs it
    and it is missing; E514 when it is also the target or another role (`taken`: index ->
    role)."""
    if name is None:
        return None
    if name not in header:
        if mode == "require":
            d.error(
                "E504",
                f"no weight column '{name}' in the header{did_you_mean(name, header)}",
                Span.point(1, 1),
                f"columns: {shown_columns(header)}",
            )
        return None
    i = header.index(name)
    if i in taken:
        d.error(
            "E514",
            f"column '{name}' is both the weight column and {taken[i]}",
            Span.point(1, i + 1),
            "weights are a column of their own, neither a feature nor a target",
        )
    return i


def from_cells(header: list[str], rows, col: int, d: Diagnostics) -> np.ndarray:
    """The column's cells as weights; a ragged row is skipped (the encoder reports it)."""
    values = np.zeros(len(rows))
    found = []
    for k, (line, cells) in enumerate(rows):
        if len(cells) != len(header):
            continue
        what = cell_problem(cells[col])
        if what:
            found.append(cell_error(line, col + 1, header, what))
        else:
            values[k] = float(cells[col])
    report(d, found[: MAX_REPORTED + 1], len(found))
    return checked(values, rows, col, header, d)


def checked(values: np.ndarray, rows, col: int, header: list[str], d) -> np.ndarray:
    """float32 weights; E514 for each negative one, by row and column (finite numbers only
    reach here: the readers reported every other bad cell)."""
    bad = np.flatnonzero(values < 0)
    found = []
    for i in bad[:MAX_REPORTED]:
        line, cells = rows[i]
        message = (
            f"weight {cells[col].strip()} at row {line}, column {col + 1} ('{header[col]}') "
            "is negative"
        )
        found.append(("E514", message, Span.point(line, col + 1), "weights must be >= 0"))
    report(d, found, len(bad))
    return np.ascontiguousarray(values, dtype=np.float32)
