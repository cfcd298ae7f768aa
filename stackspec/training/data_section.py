"""Reading a table for a spec with a data section (LANGUAGE.md §11), or with --drop/--delimiter.

The raw table comes from data.py's reader (header, rows of cell text); encoding.py learns from
the training rows and encodes. The order matters: incomplete rows are dropped first (`missing
drop`), then the validation split is drawn, then the section learns from the training part
only, and both parts are encoded with what it learned.
"""

from __future__ import annotations

import numpy as np

from ..compiler.data_settings import defaults
from ..diagnostics import Diagnostics, Span, example_shape
from ..inputs import display_name, read_bytes, read_text
from . import encoding, weight_column
from .data import STREAM_BOUND, Dataset, _check_header, _split_rows, _targets, read_csv, split
from .tables import is_parquet, parquet_text_rows

DELIMITERS = ",;\t|"  # the ones `delimiter auto` chooses among; on a tie, the earlier one


def section_in_effect(ir, target: str | None, drop=(), delimiter: str | None = None, weight=None):
    """The spec's data section with the command line's (or the API's) --target, --drop,
    --delimiter and --weight-column over it; None when neither gives one (the plain CSV rules of
    data.py). Its "weight" is the weight column in effect (weight_column.in_effect)."""
    if ir.data is None and not drop and delimiter is None:
        return None
    section = dict(defaults() if ir.data is None else ir.data)
    section.update({k: v for k, v in (("drop", list(drop)), ("delimiter", delimiter)) if v})
    if target is not None:
        section["target"] = [target]
    section["weight"] = weight_column.in_effect(ir, weight)
    return section


def sniff(text: str) -> str:
    """The delimiter among , ; tab | that the first line of `text` uses most (a comma on a tie,
    or when it has none of them)."""
    end = text.find("\n")  # the header line, without copying the rest of a large file
    header = text if end < 0 else text[:end]
    counts = {c: header.count(c) for c in DELIMITERS}
    best = max(counts, key=lambda c: counts[c])
    return best if counts[best] > counts[","] else ","


def _raw(path, ir, section: dict, need_target: bool, weights: str = "ignore"):
    """Header, rows, column roles and the diagnostics of one file; incomplete rows dropped for
    `missing drop` (with a note saying how many). `weights`: weight_column.MODES."""
    d = Diagnostics(display_name(path))
    if is_parquet(path):  # typed columns, no delimiter: the same cells a CSV would give
        header, rows = parquet_text_rows(read_bytes(path, "data file", "E501", STREAM_BOUND), d)
    else:
        text = read_text(path, "data file", "E501", STREAM_BOUND)
        delimiter = sniff(text) if section["delimiter"] == "auto" else section["delimiter"]
        header, rows, _ = _split_rows(text, d, delimiter)
    cols = section_columns(header, ir, section, need_target, d, weights)
    notes = []
    if section["missing"] == "drop":
        rows, dropped = encoding.drop_incomplete(rows, cols)
        if dropped:
            notes.append(
                f"{d.file}: dropped {dropped} of {dropped + len(rows)} rows with "
                "missing cells (missing drop)"
            )
        if not rows:
            d.error("E502", "every row has a missing cell (missing drop)", Span.point(1, 1))
            d.raise_if_errors()
    return header, rows, cols, d, notes


def section_columns(header, ir, section: dict, need_target: bool, d, weights: str = "ignore"):
    """The columns' roles (encoding.Columns), the header checked against the section and the
    spec's input (E503, E504, E509)."""
    _check_header(header, None, False, d)
    cols = encoding.resolve_columns(header, section, need_target, d, weights)
    encoding.check_count(header, cols, section, ir, d)
    return cols


def read_training(path, ir, section: dict, valid_path, valid_split, seed: int):
    """(training Dataset, validation Dataset or None, what the section learned)."""
    header, rows, cols, d, notes = _raw(path, ir, section, True, "require")
    weights = _weights(header, rows, cols, d)
    held = []
    if valid_path is None:
        fraction = 0.3 if valid_split is None else valid_split
        keep, held = split(len(rows), fraction, seed, d.file)
        train_rows, held_rows = [rows[i] for i in keep], [rows[i] for i in held]
        weights = None if weights is None else weights[keep]
    else:
        train_rows, held_rows = rows, []
    learned = encoding.learn(section, header, train_rows, cols, d)
    train = encode_rows(section, learned, header, train_rows, cols, ir, True, d)
    train.notes, train.weights = notes, weights
    if valid_path is not None:
        return train, read_encoded(valid_path, ir, section, learned, True), learned
    if not len(held):
        return train, None, learned
    return train, encode_rows(section, learned, header, held_rows, cols, ir, True, d), learned


def read_encoded(
    path, ir, section: dict, learned: dict | None, need_target: bool, weights: str = "ignore"
) -> Dataset:
    """A file encoded with what training learned (from the weight file). Without it, only a
    section that learns nothing from data (listed labels, `missing error|zero|drop`) works."""
    header, rows, cols, d, notes = _raw(path, ir, section, need_target, weights)
    learned = stored(section, learned, header, cols, d)
    ds = encode_rows(section, learned, header, rows, cols, ir, need_target, d)
    ds.notes = notes
    if weights != "ignore":
        ds.weights = _weights(header, rows, cols, d)
    return ds


def stored(section: dict, learned: dict | None, header, cols, d: Diagnostics) -> dict:
    """What training learned, from the weight file; without it (None), what the section gives
    alone (E609 when it learns from data: labels auto, missing mean|median)."""
    if learned is not None:
        return learned
    if section["labels"] == "auto" or section["missing"] in ("mean", "median"):
        d.error(
            "E609",
            "the weights hold no data-section values (labels auto, missing mean|median)",
            hint="use a weight file written by `stackspec train` with this spec",
        )
        d.raise_if_errors()
    return encoding.learn(section, header, [], cols, d)


def read_learning(path, ir, section: dict, need_target: bool) -> Dataset:
    """A file encoded with what the section learns from all of its rows (the Python API's
    read_data), read once: stdin works too."""
    header, rows, cols, d, notes = _raw(path, ir, section, need_target, "read")
    learned = encoding.learn(section, header, rows, cols, d)
    ds = encode_rows(section, learned, header, rows, cols, ir, need_target, d)
    ds.notes, ds.weights = notes, _weights(header, rows, cols, d)
    return ds


def _weights(header, rows, cols, d) -> np.ndarray | None:
    """Every row's weight, before the validation split (a bad cell is an error wherever it is)."""
    return None if cols.weight is None else weight_column.from_cells(header, rows, cols.weight, d)


def encode_rows(section, learned, header, rows, cols, ir, need_target, d) -> Dataset:
    """Rows encoded into a Dataset (features, targets, `keep` columns): a file's or a chunk's."""
    X, Y = encoding.encode(section, learned, header, rows, cols, d)
    X = np.ascontiguousarray(X).reshape(len(rows), *ir.input)
    y = (
        _targets_of(Y, learned, header, rows, cols, ir, d)
        if need_target and Y is not None
        else None
    )
    keep = {header[i]: [r[1][i] for r in rows] for i in cols.keep}
    target = ", ".join(header[t] for t in cols.targets) or None
    return Dataset(X, y, learned["features"], target, d.file, keep, encoding=learned)


def _targets_of(Y, learned, header, rows, cols, ir, d):
    loss, out = ir.train["loss"]["name"], tuple(ir.output_shape)
    labels = learned["labels"]
    if labels is not None:
        if loss == "crossentropy" and out[-1] != len(labels):
            _wrong_output(d, f"{len(labels)} labels", out, f"end with `dense {len(labels)}`")
        return Y[:, 0].astype(np.int64 if loss == "crossentropy" else np.float32)
    if len(cols.targets) == 1:
        if loss != "crossentropy" and out != (1,):
            _wrong_output(d, "one target column", out, "end the spec with `dense 1`")
        t = cols.targets[0]
        return _targets(Y[:, 0], rows, t, header[t], ir, d)
    if out != (len(cols.targets),) or loss in ("crossentropy", "bce"):
        hint = f"end the spec with `dense {len(cols.targets)}` and a regression loss"
        _wrong_output(d, f"{len(cols.targets)} target columns", out, hint)
    return np.ascontiguousarray(Y, dtype=np.float32)


def _wrong_output(d: Diagnostics, what: str, out, hint: str) -> None:
    d.error(
        "E511",
        f"the data gives {what}, the spec's output is {example_shape(out)}",
        Span.point(1, 1),
        hint,
    )
    d.raise_if_errors()


def training_arrays(
    ir, section, path, target, valid_path, valid_split, seed: int, weight=None, learned=None
):
    """(X, y, validation or None, learned or None, notes, weights or None) for `stackspec
    train`: the plain rules of data.py without a section, the section's otherwise. `weight` is
    --weight-column (the train section's weight_column when None). `learned`: what a weight
    file that training starts from holds (--init); the data is then encoded with it, as
    evaluate encodes, rather than learned anew."""
    if section is None or learned is not None:
        if section is None:
            weight = weight_column.in_effect(ir, weight)
            ds = read_csv(path, ir, target, weight=weight, weights="require")
        else:
            ds = read_encoded(path, ir, section, learned, True, "require")
        X, y, w, validation = ds.X, ds.y, ds.weights, None
        if valid_path and section is None:
            vd = read_csv(valid_path, ir, target, weight=weight)
        elif valid_path:
            vd = read_encoded(valid_path, ir, section, learned, True)
        if valid_path:
            validation = (vd.X, vd.y)
        else:
            keep, held = split(len(X), 0.3 if valid_split is None else valid_split, seed, ds.file)
            if len(held):
                X, y, validation = X[keep], y[keep], (X[held], y[held])
                w = None if w is None else w[keep]
        return X, y, validation, learned, getattr(ds, "notes", None) or [], w
    train, valid, learned = read_training(path, ir, section, valid_path, valid_split, seed)
    validation = None if valid is None else (valid.X, valid.y)
    return train.X, train.y, validation, learned, train.notes, train.weights


def dataset_for(
    ir, section, path, target, learned, need_target: bool = True, weights: str = "ignore"
) -> Dataset:
    """A file for evaluate (need_target) or predict, by the rules `training_arrays` used; the
    weight column is left out of the features, and read only as `weights` says."""
    if section is None:
        weight = weight_column.in_effect(ir)
        return read_csv(path, ir, target, need_target, weight, weights)
    return read_encoded(path, ir, section, learned, need_target, weights)
