"""The data checks of a model whose first layer reads integer ids (`embedding`, LayerKind.ids):
every input value must be a whole number in [0, vocab), E515 otherwise. A CSV's bad cells are
named by the file's row (its line, the header being row 1) and column; the Python API's arrays
by example and position (from 0), as `X[example, position]`. Checked once, on the whole data,
before any training, so a bad id never reaches a batch (where the backends' own checks can
name only the batch's example)."""

from __future__ import annotations

import numpy as np

from ..diagnostics import MAX_REPORTED, Diagnostics, Span
from ..layers import LAYERS

CODE = "E515"


def vocab(ir) -> int | None:
    """The id range of `ir`'s first layer, or None if it reads floats."""
    first = ir.nodes[0] if ir.nodes else None
    kind = LAYERS.get(first.op) if first is not None else None
    return kind.ids(first.params) if kind is not None and kind.ids is not None else None


def bad_ids(X: np.ndarray, n: int) -> np.ndarray:
    """(example, position) of every value of X (N, T) that is not a whole number in [0, n)."""
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(X) | (np.round(X) != X) | (X < 0) | (n <= X)
    return np.argwhere(bad)


def _what(n: int) -> str:
    return f"is not a whole number in [0, {n}), the embedding's vocabulary"


def check_arrays(ir, X: np.ndarray, d: Diagnostics) -> None:
    n = vocab(ir)
    if n is None:
        return
    found = bad_ids(X, n)
    for example, position in found[:MAX_REPORTED]:
        d.error(CODE, f"X[{example}, {position}] = {X[example, position]:g} {_what(n)}")


def check_rows(ir, X: np.ndarray, rows, columns: list[int], header: list[str], d) -> None:
    """The CSV's ids: X (N, T) in file order, `rows` (line, cells) and X's feature `columns`;
    raises the SpecError of every bad one (at most MAX_REPORTED named)."""
    n = vocab(ir)
    if n is None:
        return
    found = bad_ids(X, n)
    for example, position in found[:MAX_REPORTED]:
        line, cells = rows[example]
        col = columns[position]
        message = (
            f"id {cells[col].strip()} at row {line}, column {col + 1} ('{header[col]}') {_what(n)}"
        )
        d.error(
            CODE,
            message,
            Span.point(line, col + 1),
            f"ids index the ({n}, dim) table: 0 to {n - 1}",
        )
    d.raise_if_errors()
