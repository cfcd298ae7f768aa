"""Fast table reading: a plain numeric CSV through pyarrow, and Parquet files (issue 9).

The careful reader in data.py (Python's csv module, a check per distinct cell) names every
problem by row and column, but spends seconds on a large file. `numeric_table` is the fast path
for the common case, a file of numbers only: it returns the header and a float32 table, or None,
and on None the careful reader runs and reports whatever is wrong, so diagnostics never change.
It answers None for anything it is not sure of: pyarrow missing, a blank first line, a header
that is not UTF-8, a ragged row, an empty cell, a cell pyarrow rejects (a quote, a letter, a
non-ASCII byte), a value that is not finite in float32.

Why the result is the careful reader's, bit for bit:
- pyarrow's float parser accepts every ASCII decimal literal data.NUMBER accepts, spaces and
  tabs around it included, with the same value (both round correctly to float64), and nothing
  else but NaN and infinity words (`nan`, `inf`, `Infinity`, any case, signed), which the
  finite check turns away (tests/reliability/test_fuzz_tables.py compares the two readers on
  generated files; tests/test_tables.py lists the words).
- Cells are parsed to float64 and then rounded to float32, as NumPy's conversion of a string
  does; parsing straight to float32 (pyarrow's float32 type) rounds once and differs in rare
  double-rounding cases.
- Blank lines are skipped by both; the header is read by the csv module, as the careful reader
  reads it, with the BOM dropped and names stripped.
Memory: the file's bytes, the float32 table, and a few pyarrow blocks (BLOCK bytes of text and
their float64 values) per part being read; each block is rounded into the table and released.
The table has room for as many rows as the file's bytes could hold, of which only the rows read
are touched: the rest is address space, not memory.
Parquet files are read whole by pyarrow (`parquet_table`), every column numeric.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..diagnostics import Diagnostics, Span, UserError

BOM = b"\xef\xbb\xbf"
BLOCK = 1 << 19  # bytes of CSV per pyarrow block: its buffers are what the fast path adds
PARTS = 4  # parts of a large file parsed in parallel (at most one per CPU)
MIN_PART = 4 << 20  # bytes: a smaller file is read in one part
EXTRA = "stackspec[fast]"  # the optional dependency that brings pyarrow (pyproject.toml)


def pyarrow_modules():
    """(pyarrow, pyarrow.csv), or None when the optional extra is not installed."""
    try:
        import pyarrow
        import pyarrow.csv
    except ImportError:
        return None
    return pyarrow, pyarrow.csv


def numeric_table(raw: bytes, delimiter: str = ",") -> tuple[list[str], np.ndarray] | None:
    """The header and float32 (rows, columns) table of a plain numeric CSV, or None."""
    modules = pyarrow_modules()
    if modules is None or len(delimiter) != 1 or delimiter in '"\r\n':
        return None
    begin = len(BOM) if raw.startswith(BOM) else 0  # an offset: raw[3:] would copy the file
    end = _line_end(raw, begin)
    header = _header(raw[begin:end], delimiter)
    if header is None or not header:
        return None
    table = numeric_body(raw, _skip_break(raw, end), len(header), delimiter)
    return None if table is None else (header, table)


def numeric_body(raw: bytes, start: int, width: int, delimiter: str = ",") -> np.ndarray | None:
    """The rows raw[start:] of a plain numeric CSV as a float32 (rows, width) table, or None."""
    modules = pyarrow_modules()
    if modules is None:
        return None  # the careful reader decides
    try:
        return _convert(modules, raw, start, width, delimiter)
    except (modules[0].ArrowException, ValueError):
        return None


def _line_end(raw: bytes, begin: int) -> int:
    ends = [i for i in (raw.find(b"\n", begin), raw.find(b"\r", begin)) if i >= 0]
    return min(ends, default=len(raw))


def _skip_break(raw: bytes, end: int) -> int:
    return end + 2 if raw.startswith(b"\r\n", end) else end + 1


def _header(line: bytes, delimiter: str) -> list[str] | None:
    """The header's names as the careful reader has them, or None (a blank first line, a
    quote left open across lines, bytes that are not UTF-8)."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not text.strip() or text.count('"') % 2:
        return None
    [names] = list(csv.reader([text], delimiter=delimiter))
    if len(names) == 1 and not names[0].strip():
        return None
    return [name.strip() for name in names]


class _Overflow(ValueError):
    """A part read more rows than the room left for it (blank lines before it). A ValueError:
    should the exact room overflow too, the careful reader takes the file."""


def _convert(modules, raw: bytes, start: int, width: int, delimiter: str) -> np.ndarray:
    """The body raw[start:] as float32. It is cut at line breaks into up to PARTS parts read
    in parallel (pyarrow parses without the GIL) into one table, each part's rows right after
    the line breaks of the parts before it. A part starts as soon as its offset is known: the
    breaks of the part before it are counted while that part is being read, and the table has
    room for as many rows as the body's bytes could hold, of which only the rows read are
    touched (the rest is address space, not memory). Blank lines count as breaks but take a
    byte, not two a cell: where they make a part outrun that room, or where that much address
    space is refused, the breaks of every part are counted first and the room is exact."""
    parts = _parts(raw, start)
    try:
        return _read_parts(modules, raw, parts, width, delimiter, exact=False)
    # MemoryError: the room (address space twice the file's size) refused, as under `ulimit -v`
    except (_Overflow, MemoryError):
        return _read_parts(modules, raw, parts, width, delimiter, exact=True)


def _read_parts(modules, raw: bytes, parts, width: int, delimiter: str, exact: bool):
    # A row is `width` cells of a byte at least, each followed by a delimiter or a line break
    # (the last row's break may be missing): n bytes hold at most (n + 1) // (2 width) rows.
    rooms = [(b - a + 1) // (2 * width) for a, b in parts]
    if exact:
        rooms[:-1] = [_breaks(raw, a, b) for a, b in parts[:-1]]
    out = np.empty((sum(rooms), width), np.float32)
    offsets, jobs = [0], []
    # The last part is read by this thread once the others are under way: a one-part file (a
    # small one, or a chunk of `predict`) starts no thread at all.
    with ThreadPoolExecutor(max(1, len(parts) - 1)) as pool:
        for k, (a, b) in enumerate(parts):
            if k:  # counted here while the parts before it are being read
                before = rooms[k - 1] if exact else _breaks(raw, *parts[k - 1])
                offsets.append(offsets[-1] + before)
            room = out[offsets[k] : offsets[k] + rooms[k]]  # short where blank lines outrun it
            job = (modules, memoryview(raw)[a:b], room, delimiter)
            if k < len(parts) - 1:
                jobs.append(pool.submit(_fill, *job))
        last = _fill(*job)  # before waiting for the others
        counts = [future.result() for future in jobs] + [last]
    modules[0].system_memory_pool().release_unused()  # the blocks' memory, before more is used
    row = 0
    for offset, count in zip(offsets, counts, strict=True):
        if offset != row:  # blank lines in the part before: its rows are fewer than its breaks
            out[row : row + count] = out[offset : offset + count]
        row += count
    if not row:
        raise ValueError("no rows")
    return out[:row]


def _parts(raw: bytes, start: int) -> list[tuple[int, int]]:
    """(begin, end) offsets of the body cut just after a \\n into about equal parts."""
    n = max(1, min(PARTS, os.cpu_count() or 1, (len(raw) - start) // MIN_PART))
    cuts = [start]
    for k in range(1, n):
        cut = raw.find(b"\n", start + (len(raw) - start) * k // n)
        if cut >= 0 and cut + 1 > cuts[-1]:
            cuts.append(cut + 1)
    return list(zip(cuts, [*cuts[1:], len(raw)], strict=True))


def _breaks(raw: bytes, begin: int, end: int) -> int:
    """The line breaks (\\n, \\r\\n, \\r) in raw[begin:end]."""
    # NumPy counts without holding the GIL, which the part being read meanwhile needs between
    # its blocks (and faster than bytes.count here: 9-11 ms against 18 ms for 53 MB); in slices,
    # so that its temporary stays small next to the file.
    view = np.frombuffer(raw, np.uint8, end - begin, begin)
    lf = sum(int(np.count_nonzero(view[i : i + BLOCK] == 10)) for i in range(0, len(view), BLOCK))
    if raw.find(b"\r", begin, end) < 0:
        return lf
    return lf + raw.count(b"\r", begin, end) - raw.count(b"\r\n", begin, end)


def blocks(modules, body, width: int, delimiter: str):
    """pyarrow's reader of `body` (CSV rows without a header): record batches of BLOCK bytes
    of text each, every column float64. (benchmarks/bench_data.py times this parse alone.)"""
    pa, pacsv = modules
    names = [f"c{i}" for i in range(width)]  # the header's names may repeat
    return pacsv.open_csv(
        pa.py_buffer(body),
        read_options=pacsv.ReadOptions(column_names=names, block_size=BLOCK, use_threads=False),
        parse_options=pacsv.ParseOptions(delimiter=delimiter, quote_char=False),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.float64()),
            null_values=[""],
            strings_can_be_null=False,
        ),
        # malloc: freed blocks are reused across the threads; pyarrow's default (mimalloc)
        # keeps a heap per thread, ~10 MB more at the peak for a 50 MB file.
        memory_pool=pa.system_memory_pool(),
    )


def _fill(modules, body, out: np.ndarray, delimiter: str) -> int:
    """Parse `body` block by block into `out` (each block's float64 values rounded to float32
    and released); the number of rows."""
    row = 0
    for batch in blocks(modules, body, out.shape[1], delimiter):
        # Empty cells first: the room counts a byte a cell, so a row of them may not fit.
        if any(column.null_count for column in batch.columns):
            raise ValueError("an empty cell")
        if row + batch.num_rows > len(out):
            raise _Overflow
        rows = slice(row, row + batch.num_rows)
        with np.errstate(over="ignore"):  # a float32 overflow is inf: the careful reader's E508
            for i, column in enumerate(batch.columns):
                out[rows, i] = _float64s(column)
        if not np.isfinite(out[rows]).all():  # per block: no table-sized temporary
            raise ValueError("a value that is not finite in float32")
        row += batch.num_rows
    return row


class Rows(Sequence):
    """The data rows, (line, cells) as the careful reader has them, made only when a message
    needs them (a bad target value): the fast paths never split the file into rows."""

    def __init__(self, n: int, make: Callable[[], list]):
        self.n, self.make, self.rows = n, make, None

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):
        if self.rows is None:
            self.rows = self.make()
            if len(self.rows) != self.n:  # a file read again for a message
                raise UserError("the data file changed while it was read; run again")
        return self.rows[i]


def rereadable(path) -> bool:
    """Whether `path` is a regular file (not stdin or a pipe), which can be read again."""
    return str(path) != "-" and os.path.isfile(path)


def _float64s(column) -> np.ndarray:
    """A float64 pyarrow array without nulls as a NumPy view of its buffer. (Not to_numpy():
    pyarrow imports pandas on its first call when pandas is installed, 0.3 s.)"""
    values = np.frombuffer(column.buffers()[1], dtype=np.float64)
    return values[column.offset : column.offset + len(column)]


def is_parquet(path) -> bool:
    """Parquet is chosen by the file's extension."""
    return str(path).lower().endswith((".parquet", ".pq"))


def _read_parquet(raw: bytes, d: Diagnostics):
    """The pyarrow Table of a Parquet file's bytes (E501 if it is not one)."""
    modules = pyarrow_modules()
    if modules is None:
        raise UserError(f"reading Parquet needs pyarrow: pip install '{EXTRA}'")
    pa = modules[0]
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(pa.BufferReader(raw)).read()  # read_table: +0.3 s of set-up
    except (pa.ArrowException, OSError) as e:
        d.error("E501", f"not a readable Parquet file: {e}", Span.point(1, 1))
        d.raise_if_errors()


def parquet_text_rows(raw: bytes, d: Diagnostics) -> tuple[list[str], list]:
    """A Parquet file as the header and rows of cell text that a data section encodes, as if
    the table were a CSV: a null is an empty cell (a missing value), a float is written with
    repr (it reads back to the same float64, so the same float32), a string is itself. Rows
    are numbered as in a CSV (the first data row is row 2)."""
    table = _read_parquet(raw, d)
    rows = text_rows(table)
    if not rows:
        d.error("E502", "the data file has columns but no rows", Span.point(1, 1))
        d.raise_if_errors()
    return parquet_header(table), rows


def parquet_header(table) -> list[str]:
    return [str(name).strip() for name in table.column_names]


def text_rows(table, first: int = 0) -> list:
    """A pyarrow table's rows as cell text (parquet_text_rows); `first` is the index of its
    first row in the file."""
    columns = [
        ["" if v is None else repr(v) if isinstance(v, float) else str(v) for v in c.to_pylist()]
        for c in table.columns
    ]
    return [(first + i + 2, list(cells)) for i, cells in enumerate(zip(*columns, strict=True))]


def parquet_batches(file, rows: int):
    """A Parquet file (an open binary file) as pyarrow tables of at most `rows` rows; an
    unreadable file raises pyarrow's error (ArrowException or OSError)."""
    modules = pyarrow_modules()
    if modules is None:
        raise UserError(f"reading Parquet needs pyarrow: pip install '{EXTRA}'")
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(file).iter_batches(batch_size=rows):
        yield modules[0].Table.from_batches([batch])


def parquet_table(raw: bytes, d: Diagnostics) -> tuple[list[str], np.ndarray]:
    """The column names and float32 table of a Parquet file's bytes. Rows are numbered as in a
    CSV (the header is row 1, the first data row is row 2). A column that is not numeric (E507),
    a null (E506), NaN or a value outside float32 (E508) is an error."""
    table = _read_parquet(raw, d)  # pyarrow is there from here on
    header = parquet_header(table)
    out = parquet_floats(table, d)
    if not table.num_rows:
        d.error("E502", "the data file has columns but no rows", Span.point(1, 1))
    d.raise_if_errors()
    return header, out


def parquet_floats(table, d: Diagnostics) -> np.ndarray:
    """A pyarrow table's columns as float32 (rows, columns); a column that is not numeric, a
    null, NaN or a value outside float32 is an error in `d`, raised by the caller."""
    pa = pyarrow_modules()[0]
    header = parquet_header(table)
    out = np.empty((table.num_rows, len(header)), dtype=np.float32)
    for col, (name, column) in enumerate(zip(header, table.columns, strict=True), 1):
        if _parquet_column(column, col, name, d):
            row = 0
            for chunk in column.cast(pa.float64()).chunks:  # float32 via float64, as a CSV
                with np.errstate(over="ignore"):
                    out[row : row + len(chunk), col - 1] = _float64s(chunk)
                row += len(chunk)
            bad = np.flatnonzero(~np.isfinite(out[:, col - 1]))
            if len(bad):
                d.error(
                    "E508",
                    f"{len(bad)} value(s) in column {col} ('{name}') are NaN, infinite or "
                    f"outside the float32 range, the first at row {bad[0] + 2}",
                    Span.point(int(bad[0]) + 2, col),
                )
    return out


def _parquet_column(column, col: int, name: str, d: Diagnostics) -> bool:
    """Whether a Parquet column can be features: numeric (or boolean), without nulls."""
    import pyarrow.compute as pc
    import pyarrow.types as pt

    kind = column.type
    if not (pt.is_integer(kind) or pt.is_floating(kind) or pt.is_boolean(kind)):
        hint = "drop the column, or declare it categorical in the spec's data section"
        message = f"column {col} ('{name}') is not numeric (type {kind})"
        d.error("E507", message, Span.point(1, col), hint)
        return False
    if column.null_count:
        first = pc.index(column.is_null(), True).as_py()
        d.error(
            "E506",
            f"{column.null_count} missing (null) value(s) in column {col} ('{name}'), the first "
            f"at row {first + 2}",
            Span.point(first + 2, col),
        )
        return False
    return True


def parquet_rows(table: np.ndarray) -> list:
    """A Parquet table's rows as data.Row values for messages: (row number, cells as text)."""
    return [(i + 2, [f"{v:g}" for v in row]) for i, row in enumerate(table.tolist())]
