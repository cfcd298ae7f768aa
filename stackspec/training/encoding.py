"""The data section applied to a raw table (LANGUAGE.md §11): columns -> features and targets.

A raw table is a header and rows of cell text, from any reader. Two steps:
- `learn` takes what the section needs from the TRAINING rows: the label map (`labels auto`:
  sorted distinct values), imputation values (`missing mean|median|zero`), the categorical
  vocabularies. The result is a plain JSON dict, stored in the weight file, so that evaluate
  and predict use exactly what training used.
- `encode` turns rows into float32 features (each categorical column replaced by its one-hot
  block, in file order) and float64 targets (label indices where the section has labels).
Every problem is an E5xx diagnostic naming the row and column.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..compiler.data_settings import value_key
from ..diagnostics import MAX_REPORTED, Diagnostics, Span, did_you_mean, example_shape
from . import weight_column
from .cells import Problem, cell_error, cell_problem, ragged, report, shown_columns

Row = tuple[int, list[str]]  # (the line the row starts on, its cells)
ENCODING_VERSION = 1


@dataclass
class Columns:
    """Column indices by role, in file order."""

    targets: list[int]
    features: list[int]
    keep: list[int]
    weight: int | None = None  # a weight column (weight_column.py), never a feature


def resolve_columns(
    header: list[str], section: dict, need_target: bool, d: Diagnostics, weights: str = "ignore"
):
    """Each name of the section found in the header (E504 with a did-you-mean otherwise).
    `section["weight"]`, if any, is the weight column, set aside as the target is; `weights`
    says whether it must be there (weight_column.MODES)."""
    index = {name: i for i, name in enumerate(header)}
    shown = shown_columns(header)
    for role in ("target", "drop", "keep", "categorical"):
        for name in section[role]:
            if name not in index and (role != "target" or need_target):
                d.error(
                    "E504",
                    f"no column '{name}' ({role}) in the header{did_you_mean(name, header)}",
                    Span.point(1, 1),
                    f"columns: {shown}",
                )
    d.raise_if_errors()
    targets = [index[n] for n in section["target"] if n in index]
    taken = {
        index[n]: f"in `{role}`"
        for role in ("drop", "keep", "categorical")
        for n in section[role]
        if n in index
    }
    taken.update({i: "the target" for i in targets})
    weight = weight_column.column(header, section.get("weight"), weights, taken, d)
    d.raise_if_errors()
    aside = set(targets) | {index[n] for n in (*section["drop"], *section["keep"])} | {weight}
    features = [i for i in range(len(header)) if i not in aside]
    return Columns(targets, features, [index[n] for n in section["keep"]], weight)


def feature_names(header: list[str], cols: Columns, section: dict) -> list[str]:
    """The encoded features' names: a column, or `column=value` for each one-hot slot."""
    out = []
    for i in cols.features:
        cat = section["categorical"].get(header[i])
        out += [header[i]] if cat is None else [f"{header[i]}={v}" for v in cat["values"]]
    return out


def check_count(header, cols: Columns, section: dict, ir, d: Diagnostics) -> None:
    """The encoded feature count must equal the input's size; name the columns that differ."""
    names = feature_names(header, cols, section)
    need = int(np.prod(ir.input))
    if len(names) == need:
        return
    used = [header[i] for i in cols.features]
    if len(names) > need:
        hint = f"{len(names) - need} too many: `drop` the columns that are not features"
    else:
        hint = f"{need - len(names)} too few: is a feature column dropped, kept or a target?"
    blocks = [
        f"{h} ({len(section['categorical'][h]['values'])} one-hot)"
        for h in used
        if h in section["categorical"]
    ]
    extra = f"; one-hot: {', '.join(blocks)}" if blocks else ""
    d.error(
        "E509",
        f"the data section gives {len(names)} features ({', '.join(used)}{extra}), the spec's "
        f"input {example_shape(ir.input)} needs {need}",
        Span.point(1, 1),
        hint,
    )
    d.raise_if_errors()


def _is_missing(text: str) -> bool:
    return not text.strip()


def drop_incomplete(rows: list[Row], cols: Columns) -> tuple[list[Row], int]:
    """`missing drop`: rows with an empty feature or target cell go (ragged rows stay, to be
    reported)."""
    used = cols.features + cols.targets
    kept = [
        r
        for r in rows
        if len(r[1]) <= max(used, default=-1) or not any(_is_missing(r[1][i]) for i in used)
    ]
    return kept, len(rows) - len(kept)


def learn(section: dict, header: list[str], rows: list[Row], cols: Columns, d: Diagnostics):
    """What the section learns from the training rows (a JSON-ready dict)."""
    out: dict = {"version": ENCODING_VERSION, "features": feature_names(header, cols, section)}
    out["categorical"] = {
        name: [str(v) for v in c["values"]] for name, c in section["categorical"].items()
    }
    labels = section["labels"]
    if labels == "auto" and cols.targets:
        labels = _auto_labels([r[1][cols.targets[0]] for r in rows if len(r[1]) == len(header)])
    out["labels"] = None if labels is None else [str(v) for v in labels]
    strategy = section["missing"]
    impute = {}
    if strategy in ("mean", "median", "zero"):
        for i in cols.features:
            if header[i] in section["categorical"]:
                continue
            if strategy == "zero":
                impute[header[i]] = 0.0
                continue
            values = _numbers(rows, i, header, [])  # bad cells: reported by encode
            values = values[~np.isnan(values)]
            stat = np.mean if strategy == "mean" else np.median
            impute[header[i]] = float(stat(values)) if len(values) else 0.0
    out["impute"] = impute
    return out


def _auto_labels(cells: list[str]) -> list[str]:
    """Sorted distinct values, numerically when all are numbers; each as first written."""
    first: dict[tuple, str] = {}
    for text in cells:
        if not _is_missing(text):
            first.setdefault(value_key(text), text.strip())
    keys = sorted(first, key=lambda k: (k[0] != "number", k[1]))
    return [first[k] for k in keys]


def _numbers(rows: list[Row], i: int, header: list[str], found: list[Problem]) -> np.ndarray:
    """Column `i` as float64, NaN for empty cells; other bad cells go to `found` (E507/E508)."""
    out = np.full(len(rows), np.nan)
    for k, (line, cells) in enumerate(rows):
        text = cells[i] if i < len(cells) else ""
        if _is_missing(text):
            continue
        what = cell_problem(text)
        if what:
            found.append(cell_error(line, i + 1, header, what))
        else:
            out[k] = float(text)
    return out


def encode(
    section: dict, learned: dict, header: list[str], rows: list[Row], cols: Columns, d
) -> tuple[np.ndarray, np.ndarray | None]:
    """float32 features (N, F) and float64 targets (N, T), or None without target columns.
    Every cell's problem is reported, together and in file order."""
    _check_ragged(header, rows, d)
    found: list[Problem] = []
    blocks = []
    for i in cols.features:
        vocab = learned["categorical"].get(header[i])
        if vocab is None:
            blocks.append(_numeric(learned, header, rows, i, found)[:, None])
        else:
            unknown = section["categorical"].get(header[i], {}).get("unknown", "error")
            blocks.append(_one_hot(vocab, unknown, section["missing"], header, rows, i, found))
    X = np.concatenate(blocks, axis=1) if blocks else np.zeros((len(rows), 0))
    Y = None
    if cols.targets and learned["labels"] is not None:
        Y = _label_indices(learned["labels"], header, rows, cols.targets[0], found)[:, None]
    elif cols.targets:
        Y = np.stack([_required(header, rows, t, found) for t in cols.targets], axis=1)
    found.sort(key=lambda p: (p[2].line, p[2].column))
    report(d, found[: MAX_REPORTED + 1], len(found))
    return X.astype(np.float32), Y


def _check_ragged(header: list[str], rows: list[Row], d: Diagnostics) -> None:
    found = [ragged(line, len(r), len(header)) for line, r in rows if len(r) != len(header)]
    report(d, found[: MAX_REPORTED + 1], len(found))


def _numeric(learned, header, rows, i, found) -> np.ndarray:
    values = _numbers(rows, i, header, found)
    missing = _empty(rows, i)
    if missing.any():
        if header[i] in learned["impute"]:
            values[missing] = learned["impute"][header[i]]
        else:
            hint = "set `missing mean|median|zero|drop` in the data section"
            _missing(rows, i, header, missing, hint, found)
    return values


def _required(header, rows, i, found) -> np.ndarray:
    """A target column: every cell must be there (`missing drop` removed incomplete rows)."""
    values = _numbers(rows, i, header, found)
    _missing(rows, i, header, _empty(rows, i), "", found)
    return values


def _empty(rows: list[Row], i: int) -> np.ndarray:
    return np.array([_is_missing(cells[i]) for _, cells in rows], dtype=bool)


def _missing(rows, i, header, missing, hint: str, found: list[Problem]) -> None:
    for k in np.flatnonzero(missing):
        found.append((*cell_error(rows[k][0], i + 1, header, "empty cell")[:3], hint))


def _one_hot(vocab, unknown, missing, header, rows, i, found) -> np.ndarray:
    index = {value_key(v): j for j, v in enumerate(vocab)}
    out = np.zeros((len(rows), len(vocab)))
    for k, (line, cells) in enumerate(rows):
        text = cells[i]
        j = index.get(value_key(text))
        if j is not None:
            out[k, j] = 1.0
        elif _is_missing(text) and missing == "error":
            found.append(cell_error(line, i + 1, header, "empty cell"))
        elif not _is_missing(text) and unknown == "error":
            message = (
                f"value '{text.strip()[:20]}' at row {line}, column {i + 1} ('{header[i]}') is "
                f"not one of the categorical values [{', '.join(vocab)}]"
            )
            hint = "add it to the list, or write `unknown=ignore` for an all-zero block"
            found.append(("E513", message, Span.point(line, i + 1), hint))
    return out


def _label_indices(labels, header, rows, t, found) -> np.ndarray:
    index = {value_key(v): j for j, v in enumerate(labels)}
    out = np.zeros(len(rows))
    for k, (line, cells) in enumerate(rows):
        j = index.get(value_key(cells[t]))
        if j is None:
            what = "empty cell" if _is_missing(cells[t]) else f"label '{cells[t].strip()[:20]}'"
            message = (
                f"{what} at row {line}, column {t + 1} ('{header[t]}') is not one of the labels "
                f"[{', '.join(labels)}]"
            )
            found.append(("E510", message, Span.point(line, t + 1), ""))
        else:
            out[k] = j
    return out
