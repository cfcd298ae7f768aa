"""Predict's data in chunks (issue 16): a file read, encoded and handed on a chunk of rows at a
time, so that memory stays flat however long the file is.

`predict_chunks` gives the Datasets of a regular file, chunk by chunk, or None for what it
does not stream (stdin, a pipe). It takes the common, clean case only: anything the whole-file
reader would report (a bad cell, a header that does not fit the spec, a file of nothing but a
header), and anything unusual (a quote left open, bytes that are not UTF-8, a file that is not
plain numbers on the pyarrow path, a Parquet file pyarrow cannot read) raises `Declined`, and
the caller reads the whole file as before. So every diagnostic is the whole-file reader's,
unchanged: its absolute row numbers, its order of checks, its count past 50 errors.

Readers, each yielding row chunks that the same code then encodes:
- a plain CSV (no data section) with pyarrow: the file in pieces of PIECE bytes cut at line
  breaks, each through tables.py's fast path;
- any other CSV: Python's csv module over the decoded stream, rows numbered by line as
  data.py numbers them, so the careful checks run on each chunk;
- Parquet: pyarrow's record batches.
Every chunk but the last holds exactly `rows` rows, a multiple of the batch size the model
predicts in, so the batches, and so the predictions, are the same as the whole file's, byte for
byte.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator

import numpy as np

from ..diagnostics import Diagnostics, SpecError
from ..inputs import display_name, open_input
from . import encoding, ids
from .data import PLAIN, Dataset, _parse_cells, plain_columns
from .data_section import encode_rows, section_columns, sniff, stored
from .tables import (
    is_parquet,
    numeric_body,
    numeric_table,
    parquet_batches,
    parquet_floats,
    parquet_header,
    pyarrow_modules,
    rereadable,
    text_rows,
)

ROWS = 1 << 15  # rows a chunk at most, rounded down to a multiple of the batch size
PIECE = 8 << 20  # bytes of a plain CSV parsed at a time by the fast path


class Declined(Exception):
    """The chunked reader leaves this file to the whole-file reader."""


def chunk_rows(batch: int) -> int:
    """A chunk's rows: ROWS rounded down to a multiple of `batch` (at least one batch)."""
    return max(batch, ROWS // batch * batch)


def predict_chunks(ir, section, path, target, learned, rows: int) -> Iterator[Dataset] | None:
    """The Datasets of `path` as predict reads it (data_section.dataset_for with need_target
    False), `rows` rows at a time; None when the file is not streamed. Iterating raises
    Declined where the whole-file reader must decide."""
    if not rereadable(path):
        return None
    return _declining(_chunks(ir, section, path, target, learned, rows))


def _declining(chunks: Iterator[Dataset]) -> Iterator[Dataset]:
    """The chunks; a diagnostic, or an error of a library reading the file, is Declined."""
    try:
        yield from chunks
    except (SpecError, UnicodeDecodeError, csv.Error, OSError, ValueError) as e:
        raise Declined from e
    except Exception as e:  # pyarrow's ArrowException (pyarrow may be missing)
        modules = pyarrow_modules()
        if modules is not None and isinstance(e, modules[0].ArrowException):
            raise Declined from e
        raise


def _chunks(ir, section, path, target, learned, rows: int) -> Iterator[Dataset]:
    d = Diagnostics(display_name(path))
    with open_input(path, "data file", "E501") as source:
        if is_parquet(path):
            header, tables = _peek(parquet_batches(source.file, rows), parquet_header)
            if section is None:
                floats = (_raised(parquet_floats, t, d) for t in tables)
                yield from _plain(ir, target, header, floats, rows, d)
                return
            first = _counter()
            parts = (text_rows(t, first(t.num_rows)) for t in tables)
        else:
            if section is None and pyarrow_modules() is not None:
                header, tables = _fast_tables(source.file)
                yield from _plain(ir, target, header, tables, rows, d)
                return
            file = io.TextIOWrapper(source.file, encoding="utf-8-sig", newline="")
            delimiter = "," if section is None else section["delimiter"]
            header, parts = _csv_rows(file, delimiter, rows)
            if section is None:
                tables = (_raised(_parse_cells, header, part, plain, d) for part, plain in parts)
                yield from _plain(ir, target, header, tables, rows, d)
                return
            parts = (part for part, _ in parts)
        yield from _section(ir, section, learned, header, parts, rows, d)


def _plain(ir, target, header, tables, rows: int, d) -> Iterator[Dataset]:
    """Float32 tables of a file read by the plain rules (data.read_csv) as Datasets."""
    t, w, cols = plain_columns(header, ir, target, False, None, "ignore", d)
    vocab = ids.vocab(ir)
    total = 0
    for table in _rechunk(tables, rows, np.concatenate):
        X = table.take(cols, axis=1).reshape(len(table), *ir.input)
        if vocab is not None and len(ids.bad_ids(X, vocab)):
            raise Declined  # E515, named by the whole-file reader
        total += len(X)
        yield Dataset(X, None, [header[i] for i in cols], None, d.file)
    if not total:
        raise Declined  # E502


def _section(ir, section, learned, header, parts, rows: int, d) -> Iterator[Dataset]:
    """Row chunks of a file read by a data section (data_section.read_encoded) as Datasets;
    incomplete rows dropped first for `missing drop`, as the whole file's are."""
    cols = section_columns(header, ir, section, False, d)
    learned = stored(section, learned, header, cols, d)
    if section["missing"] == "drop":
        parts = (encoding.drop_incomplete(part, cols)[0] for part in parts)
    total = 0
    for part in _rechunk(parts, rows, lambda lists: [r for rows in lists for r in rows]):
        total += len(part)
        yield encode_rows(section, learned, header, part, cols, ir, False, d)
    if not total:
        raise Declined  # E502


def _csv_rows(file, delimiter: str, rows: int):
    """(header, chunks of (rows, plain)) of a CSV text stream, as data._split_rows has them:
    blank rows skipped, each row numbered by the line it starts on; `plain` when the chunk's
    lines hold only the plain characters (data.PLAIN) and the delimiter is a comma."""
    lines: list[str] = []
    first = file.readline()
    if delimiter == "auto":
        if first.endswith("\r"):
            raise Declined  # sniff reads on to a \n: lines ending in \r alone are left to it
        delimiter = sniff(first)
    reader = csv.reader(_kept(first, file, lines), delimiter=delimiter)
    header = None
    for row in reader:
        if row and row[-1].endswith(("\r", "\n")):
            raise Declined  # a quote never closed: the whole-file reader says where it opens
        if row and not (len(row) == 1 and not row[0].strip()):
            header = [name.strip() for name in row]
            break
    if header is None:
        raise Declined  # an empty file (E502)
    lines.clear()

    def parts():
        end, part = reader.line_num, []
        for row in reader:
            start, end = end + 1, reader.line_num
            if row and row[-1].endswith(("\r", "\n")):
                raise Declined
            if row and not (len(row) == 1 and not row[0].strip()):
                part.append((start, row))
            if len(part) == rows:
                yield part, _plain_lines(lines, delimiter)
                part = []
        if part:
            yield part, _plain_lines(lines, delimiter)

    return header, parts()


def _kept(first: str, file, lines: list[str]) -> Iterator[str]:
    """The stream's lines, each also added to `lines` (for the plain check of a chunk)."""
    for line in _chain(first, file) if first else ():
        lines.append(line)
        yield line


def _plain_lines(lines: list[str], delimiter: str) -> bool:
    plain = delimiter == "," and PLAIN.fullmatch("".join(lines)) is not None
    lines.clear()
    return plain


def _fast_tables(file) -> tuple[list[str], Iterator[np.ndarray]]:
    """(header, float32 tables) of a plain numeric CSV through tables.py's fast path, read in
    pieces of about PIECE bytes cut after a line break."""
    pieces = _pieces(file)
    first = numeric_table(next(pieces, b""))
    if first is None:
        raise Declined
    header, table = first

    def tables():
        yield table
        for piece in pieces:
            more = numeric_body(piece, 0, len(header))
            if more is None:
                raise Declined
            yield more

    return header, tables()


def _pieces(file) -> Iterator[bytes]:
    rest = b""
    while block := file.read(PIECE):
        block = rest + block
        cut = block.rfind(b"\n") + 1
        if cut:
            rest = block[cut:]
            yield block[:cut]
        else:
            rest = block
    if rest:
        yield rest


def _rechunk(parts, rows: int, join: Callable) -> Iterator:
    """`parts` (arrays or lists of any lengths) as chunks of exactly `rows` (the last: less)."""
    held, n = [], 0
    for part in parts:
        held.append(part)
        n += len(part)
        while n >= rows:
            whole = join(held) if len(held) > 1 else held[0]
            yield whole[:rows]
            held, n = [whole[rows:]], n - rows
    if n:
        yield join(held) if len(held) > 1 else held[0]


def _peek(tables: Iterator, header: Callable) -> tuple[list[str], Iterator]:
    """(the header of the first table, every table): a file of no rows is Declined."""
    first = next(tables, None)
    if first is None:
        raise Declined
    return header(first), _chain(first, tables)


def _chain(first, rest: Iterator) -> Iterator:
    yield first
    yield from rest


def _raised(read: Callable, *args):
    """`read(*args)`, then the errors it left in its Diagnostics (the last argument)."""
    out = read(*args)
    args[-1].raise_if_errors()
    return out


def _counter() -> Callable[[int], int]:
    """first(n): the index of the first of the next n rows."""
    seen = [0]

    def first(n: int) -> int:
        seen[0] += n
        return seen[0] - n

    return first
