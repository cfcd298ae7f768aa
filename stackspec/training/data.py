"""Data files (LANGUAGE.md §9): CSV in, float32 arrays out, every problem named by row and column.

Rules (docs/training.md has the user's version):
- UTF-8 (a byte-order mark is accepted), a header row, comma-separated, quotes as in RFC 4180
  (so `"fixed acidity"` is a name); blank lines are skipped; column names are stripped of spaces.
- The target column is chosen by name; every other column is a float feature, and each row's
  features fill the spec's input shape in row-major (C, H, W) order, in file order.
- Every cell must be a finite float32 number, written as an ASCII decimal literal: an optional
  sign, digits with an optional point (`1`, `-2.5`, `+.5`, `1.`), an optional exponent
  (`6.02e23`); spaces and tabs around it are allowed. Not `1_000`, `0x10`, fullwidth or
  Arabic-Indic digits (which Python's float() takes); `nan` and `inf` are named as such (E508).
- Rows are numbered as the file's lines (the header is row 1; a row whose quoted cell holds a
  line break is numbered by the line it starts on) and columns from 1, so `data.csv:7:3` is the
  third cell of line 7. A quote that is never closed is named at the cell where it opens.
- Targets are float32 for mse/mae/huber/bce (bce: in [0, 1]) and int64 class labels for
  crossentropy (whole numbers in [0, classes)).
With pyarrow installed (the `fast` extra), tables.py reads a file of plain numbers, and Parquet
files; the arrays and diagnostics are the same (it declines anything else, which is read here).
Errors are E5xx diagnostics whose file is the CSV; up to 50 are reported in one run, and past
that the 50th says how many more there are.
"""

from __future__ import annotations

import csv
import gc
import io
import math
import re
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from ..diagnostics import (
    MAX_REPORTED,
    Diagnostics,
    Span,
    did_you_mean,
    example_shape,
)
from ..inputs import Bound, decode, display_name, read_bytes
from . import ids, weight_column
from .cells import Problem, shown_columns
from .cells import cell_error as _cell_error
from .cells import cell_problem as _cell
from .cells import ragged as _ragged
from .cells import report as _report
from .tables import Rows, is_parquet, numeric_table, parquet_rows, parquet_table, rereadable

# CSV from stdin or a pipe is read up to 1 GiB (a regular file is read whole: its size is known).
STREAM_BOUND = Bound(
    1 << 30,
    "E501",
    "the data stream is larger than 1 GiB",
    "save it to a file and pass the file's name",
    streams_only=True,
)
VALID_STREAM = 1  # the validation split's RNG is SeedSequence([seed, 1]); batch order uses seed
# The characters of a plain body (rows after the header): no quotes, no letters but e/E. Cells
# made of these are numbers for NumPy's float32 conversion exactly when they match NUMBER,
# so a plain body takes the vectorised path without a per-cell check.
PLAIN = re.compile(r"[0-9eE+\-. \t,\r\n]*")
# One cell as the csv module reads it: quoted (group 1 is the closing quote; after it the
# rest of the cell is literal text), or unquoted.
FIELD = re.compile(r'"[^"]*(?:""[^"]*)*(")?[^,\r\n]*|[^,\r\n]*')
LINE_BREAK = re.compile(r"\r\n|\r|\n")

Row = tuple[int, list[str]]  # (the line the row starts on, its cells)


@dataclass
class Dataset:
    """A data file read for a spec: features shaped as its input, targets, and names."""

    X: np.ndarray  # float32 (N, *input_shape)
    y: np.ndarray | None  # float32 (N,) or int64 (N,) for crossentropy; None without a target
    features: list[str]
    target: str | None
    file: str
    keep: dict[str, list[str]] | None = None  # `keep` columns, copied through to predict
    notes: list[str] | None = None  # one-line notes for the user (rows dropped, ...)
    encoding: dict | None = None  # what a data section learned (encoding.py)
    weights: np.ndarray | None = None  # float32 (N,) from a weight column (weight_column.py)

    def __len__(self) -> int:
        return len(self.X)


def _split_rows(
    text: str, diags: Diagnostics, delimiter: str = ","
) -> tuple[list[str], list[Row], bool]:
    """Rows of `text` by Python's csv module; each row is numbered by the line it starts on (a
    quoted cell may hold line breaks). The body is plain only for commas."""
    if text and text[-1] not in "\r\n":
        # With a break at the end, a quote still open at the end of the file leaves that break
        # in the last cell: the sign to look for the quote.
        text += "\n"
    # Lines as a file opened with newline="" has them: broken only at \n, \r\n and \r
    # (str.splitlines would also break at U+2028, \f ...).
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header, rows, body, end, row = None, [], 0, 0, []
    try:
        for row in reader:
            start, end = end + 1, reader.line_num
            if row and row[-1].endswith(("\r", "\n")):
                _check_open_quote(text, start, diags)
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if header is None:
                header, body = [name.strip() for name in row], end
            else:
                rows.append((start, row))
    except csv.Error as e:  # a cell over the csv module's size limit
        if not _check_open_quote(text, end + 1, diags):
            diags.error("E501", f"not a readable CSV file: {e}", Span.point(end + 1, 1))
    diags.raise_if_errors()
    if header is None:
        diags.error("E502", "the data file is empty; expected a header row and data rows")
    elif not rows:
        diags.error("E502", "the data file has a header but no data rows", Span.point(1, 1))
    diags.raise_if_errors()
    plain = delimiter == "," and PLAIN.fullmatch(text, _line_start(text, body + 1)) is not None
    return header, rows, plain


def _line_start(text: str, line: int) -> int:
    """The offset in `text` where `line` (1-based, as the csv module counts) starts."""
    offset = 0
    for _, part in zip(range(line - 1), io.StringIO(text, newline=""), strict=False):
        offset += len(part)
    return offset


def _check_open_quote(text: str, line: int, diags: Diagnostics) -> bool:
    """E501 at the quote that opens a cell and is never closed, if the record starting at
    `line` has one (then True). Python's csv module reads such a cell on to the end of the
    file, so its error (if any) would name the last row; this scan finds where the quote opens,
    by the csv module's rules (non-strict: after a closing quote, the rest of the cell is
    literal text)."""
    start = pos = _line_start(text, line)
    column = 1
    while True:
        m = FIELD.match(text, pos)
        if m.group(0).startswith('"') and m.group(1) is None:
            line += len(LINE_BREAK.findall(text, start, m.start()))
            diags.error(
                "E501",
                f"unterminated quote: the quoted cell at row {line}, column {column} runs to "
                "the end of the file",
                Span.point(line, column),
                'end the cell with a closing " (a quote inside a quoted cell is written "")',
            )
            return True
        pos = m.end()
        if not text.startswith(",", pos):
            return False
        pos, column = pos + 1, column + 1


def _check_header(header: list[str], target: str | None, need_target: bool, d: Diagnostics):
    first: dict[str, int] = {}
    for i, name in enumerate(header, 1):
        if name in first:
            d.error(
                "E503",
                f"duplicate column name '{name}' (columns {first[name]} and {i})",
                Span.point(1, i),
            )
        first.setdefault(name, i)
    if target is not None and target not in first and need_target:
        shown = shown_columns(header)
        d.error(
            "E504",
            f"no target column '{target}' in the header{did_you_mean(target, header)}",
            Span.point(1, 1),
            f"columns: {shown}",
        )
    d.raise_if_errors()


def read_csv(
    path: str | Path,
    ir,
    target: str | None,
    need_target: bool = True,
    weight: str | None = None,
    weights: str = "ignore",
) -> Dataset:
    """Load a CSV for `ir`: features shaped as its input; the `target` column as labels.

    With need_target=False (predict), a `target` column that is absent is simply not there to
    drop; with need_target=True it must exist. `weight` names a weight column, never a feature;
    `weights` says whether it is read into `Dataset.weights` (weight_column.MODES).
    """
    with _no_gc():
        return _read_csv(path, ir, target, need_target, weight, weights)


@contextmanager
def _no_gc():
    """The cyclic garbage collector off while a file's rows are read: a large file makes
    millions of row lists, none in a cycle, and the collector would rescan them again and again
    (about 40% of the time of a 56 MB file)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _read_table(path, d: Diagnostics) -> tuple[list[str], Sequence[Row], bool, np.ndarray | None]:
    """The header, the rows, whether they are plain, and the float32 table when a fast path
    (tables.py: pyarrow, when installed) read it; None leaves the cells to _parse_cells."""
    raw = read_bytes(path, "data file", "E501", STREAM_BOUND)
    if is_parquet(path):
        header, table = parquet_table(raw, d)
        return header, Rows(len(table), lambda: parquet_rows(table)), True, table
    fast = numeric_table(raw)
    if fast is None:
        text = decode(raw, path, "E501")
        del raw  # the careful reader holds the text, not the bytes too
        return (*_split_rows(text, d), None)
    header, table = fast
    # The rows are needed only for a message (a bad target value); a regular file is read
    # again then, so its bytes go now, before the arrays are made.
    keep = None if rereadable(path) else raw
    return header, Rows(len(table), partial(_rows_again, path, keep, d.file)), True, table


def _rows_again(path, raw: bytes | None, file: str) -> list[Row]:
    raw = read_bytes(path, "data file", "E501", STREAM_BOUND) if raw is None else raw
    return _split_rows(decode(raw, path, "E501"), Diagnostics(file))[1]


def _read_csv(path, ir, target: str | None, need_target: bool, weight, weights) -> Dataset:
    d = Diagnostics(display_name(path))
    header, rows, plain, table = _read_table(path, d)
    t, w, feature_cols = plain_columns(header, ir, target, need_target, weight, weights, d)
    if table is None:
        table = _parse_cells(header, rows, plain, d)
    X = table.take(feature_cols, axis=1).reshape(len(rows), *ir.input)  # C order: one copy
    ids.check_rows(ir, X, rows, feature_cols, header, d)  # an embedding's input (E515)
    y = None
    if t is not None and need_target:
        y = _targets(table[:, t], rows, t, header[t], ir, d)
    sample = None
    if w is not None and weights != "ignore":
        sample = weight_column.checked(table[:, w], rows, w, header, d)
    target_name = header[t] if t is not None else None
    return Dataset(X, y, [header[i] for i in feature_cols], target_name, d.file, weights=sample)


def plain_columns(header: list[str], ir, target, need_target: bool, weight, weights, d):
    """(target column or None, weight column or None, feature columns) of a file read by the
    plain rules, its header checked against the spec (E503, E504, E509, E511)."""
    _check_header(header, target, need_target, d)
    t = header.index(target) if target in header else None
    w = weight_column.column(header, weight, weights, {} if t is None else {t: "the target"}, d)
    d.raise_if_errors()
    feature_cols = [i for i in range(len(header)) if i not in (t, w)]
    need = math.prod(ir.input)
    if len(feature_cols) != need:
        hint = ""
        if t is None and len(feature_cols) == need + 1:
            hint = "is one of the columns the target? name it with --target COL"
        d.error(
            "E509",
            f"the data has {len(feature_cols)} feature columns, the spec's input "
            f"{example_shape(ir.input)} needs {need}",
            Span.point(1, 1),
            hint,
        )
    loss = ir.train["loss"]["name"]
    if t is not None and need_target and loss != "crossentropy" and ir.output_shape != (1,):
        d.error(
            "E511",
            f"the spec's output has shape {example_shape(ir.output_shape)} but a target column "
            "gives one value per row",
            Span.point(1, t + 1),
            "end the spec with `dense 1`, or use `loss crossentropy` with class labels",
        )
    d.raise_if_errors()
    return t, w, feature_cols


def _parse_cells(header: list[str], rows: list[Row], plain: bool, d: Diagnostics):
    """float32 (rows, columns); a vectorised fast path, and a cell-by-cell scan otherwise."""
    width = len(header)
    if plain and all(len(r) == width for _, r in rows):
        try:
            with np.errstate(over="ignore"):  # a too-large cell becomes inf, reported below
                table = np.array([r for _, r in rows], dtype=np.float32)
            if np.isfinite(table).all():
                return table
        except ValueError:
            pass
    found: list[Problem] = []
    total = 0
    memo: dict[str, str] = {}  # each distinct cell is checked once
    for line, row in rows:
        if len(row) != width:
            total += 1
            if len(found) <= MAX_REPORTED:
                found.append(_ragged(line, len(row), width))
            continue
        for col, text in enumerate(row, 1):
            what = memo.get(text)
            if what is None:
                what = memo[text] = _cell(text)
            if what:
                total += 1
                if len(found) <= MAX_REPORTED:
                    found.append(_cell_error(line, col, header, what))
    _report(d, found, total)
    return np.array([r for _, r in rows], dtype=np.float32)


def _targets(values, rows: list[Row], t: int, name: str, ir, d: Diagnostics) -> np.ndarray:
    loss = ir.train["loss"]["name"]
    if loss not in ("crossentropy", "bce"):
        return np.ascontiguousarray(values, dtype=np.float32)
    if loss == "crossentropy":
        classes = ir.output_shape[-1]
        bad = np.flatnonzero((values != np.round(values)) | (values < 0) | (values >= classes))
        what = f"is not a whole number in [0, {classes})"
        hint = (
            f"crossentropy labels are class indices 0..{classes - 1} (the spec's output has "
            f"{classes} logits)"
        )
    else:
        bad = np.flatnonzero((values < 0) | (values > 1))
        what, hint = "is outside [0, 1]", ""
    label = "class label" if loss == "crossentropy" else "bce target"
    found = []
    for i in bad[:MAX_REPORTED]:
        line, cells = rows[i]
        message = f"{label} {cells[t].strip()} at row {line}, column {t + 1} ('{name}') {what}"
        found.append(("E510", message, Span.point(line, t + 1), hint))
    _report(d, found, len(bad))
    if loss == "crossentropy":
        return values.astype(np.int64)
    return np.ascontiguousarray(values, dtype=np.float32)


def split(
    n: int, fraction: float, seed: int, file: str = "<X, y>"
) -> tuple[np.ndarray, np.ndarray]:
    """(train, valid) row indices: a random `fraction` for validation, from the seed alone.

    Its own stream, SeedSequence([seed, 1]), so the split does not shift the batch order. Each
    part keeps file order; at least one row goes to each part. `file` names the data in errors.
    """
    d = Diagnostics(file)
    if not 0 <= fraction < 1:
        d.error("E512", f"validation fraction {fraction} not in [0, 1)")
        d.raise_if_errors()
    n_valid = min(max(round(n * fraction), 1 if fraction > 0 else 0), n - 1)
    if fraction > 0 and n_valid < 1:
        d.error(
            "E512",
            f"{n} row(s) are too few to split off validation data",
            hint="give more rows, a validation file with --valid, or --valid-split 0",
        )
    d.raise_if_errors()
    order = np.random.default_rng([seed, VALID_STREAM]).permutation(n)
    return np.sort(order[n_valid:]), np.sort(order[:n_valid])
