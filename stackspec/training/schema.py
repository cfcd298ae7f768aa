"""`stackspec schema DATA`: a suggested `input` line and `data` section for a table (§11).

From a raw CSV (or Parquet) file to a first spec in one command. Each column is one of:
- numeric: every non-empty cell an ASCII decimal literal (data.NUMBER), one feature;
- categorical: other text with at most MAX_CATEGORIES distinct values, one-hot in the sorted
  order of its values (`categorical NAME=[...]`);
- dropped: other text with more distinct values (free text, dates, names), or an identifier
  (a column named `id` or `..._id` whose values are all distinct; also `keep`, so predict's
  output can be joined back);
- the target (`--target`): `labels [...]` when it has at most MAX_LABELS distinct values that
  are whole numbers or text (a classification target), otherwise a regression target.
Empty cells (nulls in Parquet) are counted per column and shown as a comment, with `missing mean`
suggested. The delimiter is sniffed among `,` `;` tab `|` and written when it is not a comma.
Names and values are written bare when the spec syntax allows (a name or a number), otherwise
as double-quoted strings.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field

from ..grammar.lexical import KEYWORDS as LANGUAGE_KEYWORDS
from ..inputs import display_name, read_bytes, read_text
from .cells import NUMBER
from .data import STREAM_BOUND
from .data_section import sniff
from .tables import is_parquet, pyarrow_modules

MAX_CATEGORIES = 20
MAX_LABELS = 20
BARE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
# The language's keywords, and `data`, a keyword where a statement starts: quoted to be safe.
KEYWORDS = LANGUAGE_KEYWORDS | {"data"}


@dataclass
class Column:
    """One column's cells (None for an empty cell) and what the schema makes of it."""

    name: str
    cells: list[str | None]
    missing: int = 0
    numeric: bool = True
    values: list[str] = field(default_factory=list)  # distinct non-empty values, sorted

    def __post_init__(self) -> None:
        present = [c for c in self.cells if c is not None]
        self.missing = len(self.cells) - len(present)
        self.numeric = all(NUMBER.fullmatch(c) for c in present)
        distinct = {c.strip() for c in present}
        key = (lambda v: float(v)) if self.numeric else None
        self.values = sorted(distinct, key=key)

    def whole(self) -> bool:
        return self.numeric and all(float(v).is_integer() for v in self.values)

    def identifier(self) -> bool:
        name = self.name.lower()
        unique = len(self.values) == len(self.cells) - self.missing
        return (name == "id" or name.endswith("_id")) and unique and not self.missing


def token(text: str) -> str:
    """A name or value as the spec syntax writes it: bare, or a double-quoted string."""
    if BARE.fullmatch(text) and text not in KEYWORDS:
        return text
    return json.dumps(text, ensure_ascii=False)


def read_columns(path) -> tuple[list[Column], str]:
    """The file's columns and its delimiter."""
    if is_parquet(path):
        return _parquet_columns(path), ","
    text = read_text(path, "data file", "E501", STREAM_BOUND)
    delimiter = sniff(text.lstrip("\r\n").splitlines()[0] if text.strip() else "")
    rows = [
        r
        for r in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        if r and not (len(r) == 1 and not r[0].strip())
    ]
    if not rows:
        return [], delimiter
    header, body = [n.strip() for n in rows[0]], rows[1:]
    columns = []
    for i, name in enumerate(header):
        cells = [r[i] if i < len(r) and r[i].strip() else None for r in body]
        columns.append(Column(name, cells))
    return columns, delimiter


def _parquet_columns(path) -> list[Column]:
    from ..diagnostics import UserError
    from .tables import EXTRA

    if pyarrow_modules() is None:
        raise UserError(f"reading Parquet needs pyarrow: pip install '{EXTRA}'")
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.ParquetFile(pa.BufferReader(read_bytes(path, "data file", "E501"))).read()
    except (pa.ArrowException, OSError) as e:
        raise UserError(f"{display_name(path)}: not a readable Parquet file: {e}") from None
    return [
        Column(str(name).strip(), [None if v is None else str(v) for v in column.to_pylist()])
        for name, column in zip(table.column_names, table.columns, strict=True)
    ]


def schema_text(path, target: str | None = None) -> str:
    """The suggested `input` line and `data` section for the table at `path`."""
    columns, delimiter = read_columns(path)
    rows = len(columns[0].cells) if columns else 0
    lines = [f"# {display_name(path)}: {rows} rows, {len(columns)} columns"]
    section, numeric, onehot = [], 0, []
    target_column = next((c for c in columns if c.name == target), None)
    if target is None:
        section.append(
            "# target NAME   (the column to predict: stackspec schema DATA --target NAME)"
        )
    elif target_column is None:
        section.append(f"# no column {token(target)} in the header")
    else:
        section += _target_lines(target_column)
    drops, keeps, categoricals = [], [], []
    for c in columns:
        if c is target_column:
            continue
        if c.identifier():
            drops.append((c, "an identifier: every value distinct"))
            keeps.append(c)
        elif c.numeric:
            numeric += 1
        elif len(c.values) <= MAX_CATEGORIES:
            categoricals.append(c)
            onehot.append(len(c.values))
        else:
            drops.append((c, f"{len(c.values)} distinct text values"))
    section += [f"drop {token(c.name)}  # {why}" for c, why in drops]
    for c in categoricals:
        section.append(f"categorical {token(c.name)}=[{', '.join(map(token, c.values))}]")
    section += _missing_lines(columns, [c for c, _ in drops])
    if delimiter != ",":
        section.append(f"delimiter {token(delimiter)}")
    section += [f"keep {token(c.name)}  # copied to predict's output" for c in keeps]
    size = numeric + sum(onehot)
    what = f"{numeric} numeric" + (f" + {sum(onehot)} one-hot" if onehot else "")
    lines += [f"input {size}  # {what}", "data {"] + [f"  {s}" for s in section] + ["}"]
    return "\n".join(lines) + "\n"


def _target_lines(c: Column) -> list[str]:
    head = f"target {token(c.name)}"
    classes = len(c.values)
    if classes <= MAX_LABELS and (c.whole() or not c.numeric):
        hint = f"end the stack with `dense {classes} softmax` and use `loss crossentropy`"
        return [
            f"{head}  # {classes} classes: {hint}",
            f"labels [{', '.join(map(token, c.values))}]",
        ]
    if not c.numeric:
        return [f"{head}  # {classes} distinct text values: too many for labels"]
    return [f"{head}  # a number to predict: end with `dense 1` and use `loss mse`"]


def _missing_lines(columns: list[Column], dropped: list[Column]) -> list[str]:
    counts = [(c.name, c.missing) for c in columns if c.missing and c not in dropped]
    if not counts:
        return []
    shown = ", ".join(f"{token(name)} {n}" for name, n in counts)
    return [f"# empty cells: {shown}", "missing mean"]
