"""Data files (LANGUAGE.md §9): CSV in, float32 arrays out, every problem named by row and column.

Rules (docs/training.md has the user's version):
- UTF-8 (a byte-order mark is accepted), a header row, comma-separated, quotes as in RFC 4180
  (so `"fixed acidity"` is a name); blank lines are skipped; column names are stripped of spaces.
- The target column is chosen by name; every other column is a float feature, and each row's
  features fill the spec's input shape in row-major (C, H, W) order, in file order.
- Every cell must be a finite float32 number. Rows are numbered as the file's lines (the header
  is row 1) and columns from 1, so `data.csv:7:3` is the third cell of line 7.
- Targets are float32 for mse/mae/huber/bce (bce: in [0, 1]) and int64 class labels for
  crossentropy (whole numbers in [0, classes)).
Errors are E5xx diagnostics whose file is the CSV; up to 50 are reported in one run.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .diagnostics import MAX_REPORTED, Diagnostic, Diagnostics, Span, SpecError, did_you_mean
from .inputs import Bound, display_name, read_text

# CSV from stdin or a pipe is read up to 1 GiB (a regular file is read whole: its size is known).
STREAM_BOUND = Bound(
    1 << 30,
    "E501",
    "the data stream is larger than 1 GiB",
    "save it to a file and pass the file's name",
    streams_only=True,
)
VALID_STREAM = 1  # the validation split's RNG is SeedSequence([seed, 1]); batch order uses seed
F32_MAX = float(np.finfo(np.float32).max)


@dataclass
class Dataset:
    X: np.ndarray  # float32 (N, *input_shape)
    y: np.ndarray | None  # float32 (N,) or int64 (N,) for crossentropy; None without a target
    features: list[str]
    target: str | None
    file: str

    def __len__(self) -> int:
        return len(self.X)


def target_dtype(loss: str) -> type:
    return np.int64 if loss == "crossentropy" else np.float32


def _cell(text: str) -> tuple[float | None, str]:
    """(value, '') for a valid cell, else (None, what is wrong with it)."""
    if not text.strip():
        return None, "empty cell"
    try:
        v = float(text)
    except ValueError:
        shown = text if len(text) <= 20 else text[:20] + "..."
        return None, f"not a number: '{shown}'"
    if math.isnan(v):
        return None, "NaN is not allowed"
    if math.isinf(v) or abs(v) > F32_MAX:
        return None, f"'{text.strip()}' is infinite or outside the float32 range"
    return v, ""


def _read_rows(path: Path, diags: Diagnostics) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and the non-blank data rows with their line numbers."""
    text = read_text(path, "data file", "E501", STREAM_BOUND)
    try:
        # newline="": the csv module sees line endings as written, as with open(newline="").
        with io.StringIO(text, newline="") as f:
            reader = csv.reader(f)
            header, rows = None, []
            for row in reader:
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                if header is None:
                    header = [name.strip() for name in row]
                else:
                    rows.append((reader.line_num, row))
    except csv.Error as e:
        diags.error("E501", f"not a readable CSV file: {e}")
    diags.raise_if_errors()
    if header is None:
        diags.error("E502", "the data file is empty; expected a header row and data rows")
    elif not rows:
        diags.error("E502", "the data file has a header but no data rows", Span.point(1, 1))
    diags.raise_if_errors()
    return header, rows


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
        shown = ", ".join(header[:20]) + (", ..." if len(header) > 20 else "")
        d.error(
            "E504",
            f"no target column '{target}' in the header{did_you_mean(target, header)}",
            Span.point(1, 1),
            f"columns: {shown}",
        )
    d.raise_if_errors()


def read_csv(path: str | Path, ir, target: str | None, need_target: bool = True) -> Dataset:
    """Load a CSV for `ir`: features shaped as its input; the `target` column as labels.

    With need_target=False (predict), a `target` column that is absent is simply not there to
    drop; with need_target=True it must exist.
    """
    d = Diagnostics(display_name(path))
    header, rows = _read_rows(path, d)
    _check_header(header, target, need_target, d)
    t = header.index(target) if target in header else None
    feature_cols = [i for i in range(len(header)) if i != t]
    need = math.prod(ir.input)
    if len(feature_cols) != need:
        shape = "x".join(map(str, ir.input))
        hint = ""
        if t is None and len(feature_cols) == need + 1:
            hint = "is one of the columns the target? name it with --target COL"
        d.error(
            "E509",
            f"the data has {len(feature_cols)} feature columns, the spec's input {shape} "
            f"needs {need}",
            Span.point(1, 1),
            hint,
        )
    loss = ir.train["loss"]["name"]
    if t is not None and need_target and loss != "crossentropy" and ir.output_shape != (1,):
        d.error(
            "E511",
            f"the spec's output has shape {ir.output_shape} but a target column gives one "
            f"value per row",
            Span.point(1, t + 1),
            "end the spec with `dense 1`, or use `loss crossentropy` with class labels",
        )
    d.raise_if_errors()
    table = _parse_cells(header, rows, d)
    X = np.ascontiguousarray(table[:, feature_cols]).reshape(len(rows), *ir.input)
    y = None
    if t is not None and need_target:
        y = _targets(table[:, t], rows, t, header[t], ir, d)
    return Dataset(
        X, y, [header[i] for i in feature_cols], header[t] if t is not None else None, d.file
    )


def _parse_cells(header: list[str], rows: list[tuple[int, list[str]]], d: Diagnostics):
    """float32 (rows, columns); a vectorised fast path, and a cell-by-cell scan for errors."""
    width = len(header)
    if all(len(r) == width for _, r in rows):
        try:
            with np.errstate(over="ignore"):  # a too-large cell becomes inf, reported below
                table = np.array([r for _, r in rows], dtype=np.float32)
            if np.isfinite(table).all():
                return table
        except ValueError:
            pass
    values = []
    for line, row in rows:
        if len(row) != width:
            d.error(
                "E505",
                f"row {line} has {len(row)} cells, the header has {width}",
                Span.point(line, min(len(row), width) + 1),
            )
            continue
        cells = [_cell(text) for text in row]
        for col, (_, what) in enumerate(cells, 1):
            if what:
                _cell_error(d, line, col, header, what)
        values.append([v for v, _ in cells])
        if len(d.items) >= MAX_REPORTED:
            break
    d.raise_if_errors()
    return np.array(values, dtype=np.float32)


def _cell_error(d: Diagnostics, line: int, col: int, header: list[str], what: str) -> None:
    code = "E506" if what == "empty cell" else "E507" if what.startswith("not a") else "E508"
    d.error(
        code, f"{what} at row {line}, column {col} ('{header[col - 1]}')", Span.point(line, col)
    )


def _targets(values, rows, t: int, name: str, ir, d: Diagnostics) -> np.ndarray:
    loss = ir.train["loss"]["name"]
    if loss == "crossentropy":
        classes = ir.output_shape[-1]
        bad = (values != np.round(values)) | (values < 0) | (values >= classes)
        for i in np.flatnonzero(bad)[:MAX_REPORTED]:
            line = rows[i][0]
            d.error(
                "E510",
                f"class label {rows[i][1][t].strip()} at row {line}, column {t + 1} ('{name}') "
                f"is not a whole number in [0, {classes})",
                Span.point(line, t + 1),
                f"crossentropy labels are class indices 0..{classes - 1} (the spec's output "
                f"has {classes} logits)",
            )
        d.raise_if_errors()
        return values.astype(np.int64)
    if loss == "bce":
        for i in np.flatnonzero((values < 0) | (values > 1))[:MAX_REPORTED]:
            line = rows[i][0]
            d.error(
                "E510",
                f"bce target {rows[i][1][t].strip()} at row {line}, column {t + 1} ('{name}') "
                "is outside [0, 1]",
                Span.point(line, t + 1),
            )
        d.raise_if_errors()
    return np.ascontiguousarray(values, dtype=np.float32)


def split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, valid) row indices: a random `fraction` for validation, from the seed alone.

    Its own stream, SeedSequence([seed, 1]), so the split does not shift the batch order. Each
    part keeps file order; at least one row goes to each part.
    """
    if not 0 <= fraction < 1:
        raise SpecError(
            [Diagnostic("error", "E512", f"validation fraction {fraction} not in [0, 1)")]
        )
    n_valid = min(max(round(n * fraction), 1 if fraction > 0 else 0), n - 1)
    if fraction > 0 and n_valid < 1:
        raise SpecError(
            [Diagnostic("error", "E512", f"{n} row(s) are too few to split off validation data")]
        )
    order = np.random.default_rng([seed, VALID_STREAM]).permutation(n)
    return np.sort(order[n_valid:]), np.sort(order[:n_valid])


def as_arrays(ir, X, y=None, file: str = "<arrays>") -> tuple[np.ndarray, np.ndarray | None]:
    """Arrays given to the Python API, checked and converted like a CSV's (X float32 shaped as
    the input; a flat (N, C*H*W) X is reshaped row-major; y float32 or int64 labels)."""
    d = Diagnostics(file)
    X = np.asarray(X, dtype=np.float32)
    need = math.prod(ir.input)
    if X.ndim == 2 and X.shape[1] == need and len(ir.input) > 1:
        X = X.reshape(len(X), *ir.input)
    if X.ndim == 1 and ir.input == (1,):
        X = X.reshape(-1, 1)
    if X.shape[1:] != tuple(ir.input):
        d.error("E509", f"X has shape {X.shape}, expected (N, {', '.join(map(str, ir.input))})")
    elif len(X) == 0:
        d.error("E502", "X has no examples")
    elif not np.isfinite(X).all():
        d.error("E508", "X holds NaN or infinite values")
    d.raise_if_errors()
    if y is None:
        return np.ascontiguousarray(X), None
    loss = ir.train["loss"]["name"]
    y = np.asarray(y)
    out = tuple(ir.output_shape)
    if loss == "crossentropy":
        yf = y.astype(np.float64)
        if y.ndim == 2 and y.shape[1] == 1:
            yf = yf.reshape(-1)
        classes = out[-1]
        if yf.ndim != 1:
            d.error("E510", f"y has shape {y.shape}; crossentropy needs (N,) class labels")
        elif not (np.isfinite(yf).all() and (yf == np.round(yf)).all()):
            d.error("E510", "crossentropy labels must be whole numbers")
        elif len(yf) and (yf.min() < 0 or yf.max() >= classes):
            d.error("E510", f"crossentropy labels must be in [0, {classes})")
        else:
            y = yf.astype(np.int64)
    else:
        y = y.astype(np.float32)
        if out == (1,) and y.ndim == 2 and y.shape[1] == 1:
            y = y.reshape(-1)
        if not (y.shape[1:] == out or (out == (1,) and y.ndim == 1)):
            d.error("E511", f"y has shape {y.shape}; the spec's output is {out}")
        if not np.isfinite(y).all():
            d.error("E508", "y holds NaN or infinite values")
    if not d.has_errors and len(y) != len(X):
        d.error("E505", f"X has {len(X)} examples but y has {len(y)}")
    d.raise_if_errors()
    return np.ascontiguousarray(X), np.ascontiguousarray(y)
