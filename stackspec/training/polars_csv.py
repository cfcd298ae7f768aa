"""The fastest path for a plain numeric CSV: polars, when installed (the `polars` extra; issue 9).

tables.numeric_body asks this module first, then pyarrow, then leaves the file to the careful
reader (data.py), which names every problem by row and column. `polars_body` answers None for
anything it is not sure of, so diagnostics never change: polars missing, a body with any byte
but digits, `eE+-.`, the delimiter and line breaks (no spaces or tabs: polars does not trim
them; pyarrow does, and takes those files), a lone \\r, a header that is not one \\n-ended
line, an empty cell, a short row or a blank line (a null: polars does not skip blank lines;
pyarrow does), a long row or a cell polars rejects (an error), a value that is not finite in
float32.

Why the result is the careful reader's, bit for bit:
- Within those bytes, polars' float parser accepts exactly the ASCII decimal literals
  cells.NUMBER accepts, and its float64 is correctly rounded, as Python's float() is
  (tests/reliability/test_fuzz_tables.py compares the readers on generated files,
  tests/test_polars_csv.py the parse with float() on long mantissas and halfway cases).
- Cells are parsed to float64 and then cast to float32 by polars, round to nearest even as
  NumPy's conversion does; parsing straight to float32 rounds once and differs in rare
  double-rounding cases.
Memory: the file (a regular file is mapped by polars, not read here: tables.numeric_file),
polars' float32 columns and the table they are copied into; the float64 values live only per
block of rows inside polars.
"""

from __future__ import annotations

import numpy as np

TIGHT = b"0123456789eE+-.\r\n"  # the body's bytes polars is given (a \r only before a \n)
BLOCK = 1 << 22  # bytes of a file checked at a time


def polars_module():
    """polars, or None when the optional extra is not installed."""
    try:
        import polars
    except ImportError:
        return None
    return polars


def plain(raw: bytes, start: int, allowed: bytes) -> bool:
    """Whether raw[start:] holds only `allowed` bytes, without copying it: what translate
    leaves of the whole file is then what it leaves of the part before `start`."""
    return raw.translate(None, allowed) == raw[:start].translate(None, allowed)


def polars_body(raw: bytes, start: int, width: int, delimiter: str = ",") -> np.ndarray | None:
    """The rows raw[start:] of a plain numeric CSV as a float32 (rows, width) table (in column
    order), or None. raw[:start] is nothing or the header line, ended by a \\n."""
    skip = _skipped_lines(raw, start)
    if polars_module() is None or skip is None or not _delimiter(delimiter):
        return None
    if not plain(raw, start, TIGHT + delimiter.encode()) or not _crlf_only(raw, start):
        return None
    return polars_table(raw, skip, width, delimiter)


def tight_file(file, delimiter: str = ",") -> bool:
    """polars_body's checks on the rest of an open binary file, read a block at a time into one
    buffer (no copy of the file): only TIGHT bytes and the delimiter, a \\r only before a \\n."""
    allowed = TIGHT + delimiter.encode()
    buffer, carry = bytearray(BLOCK), False  # carry: the last block ended in a \r
    while n := file.readinto(buffer):
        block = buffer if n == BLOCK else buffer[:n]
        if block.translate(None, allowed):
            return False
        if carry and block[0] != ord("\n"):
            return False
        carry = block[-1] == ord("\r")  # its \n, if any, starts the next block
        if b"\r" in block and block.count(b"\r") - block.count(b"\r\n") != carry:
            return False  # (counting is slower than looking: count only where there is one)
    return not carry and _delimiter(delimiter)


def polars_table(source, skip: int, width: int, delimiter: str) -> np.ndarray | None:
    """A checked body (bytes, or a file's path, which polars maps itself) after `skip` lines as
    a float32 table, or None."""
    pl = polars_module()
    names = [f"c{i}" for i in range(width)]
    try:
        frame = (
            pl.scan_csv(
                source,
                has_header=False,
                skip_lines=skip,
                separator=delimiter,
                quote_char=None,
                schema=dict.fromkeys(names, pl.Float64),
                raise_if_empty=False,
            )
            .select(pl.all().cast(pl.Float32))  # float64 per block, then rounded as NumPy does
            .collect()
        )
    except pl.exceptions.PolarsError:  # a cell it rejects, a long row (PanicException too)
        return None
    if not frame.height or sum(frame.null_count().row(0)):
        return None  # an empty body; an empty cell, a short row or a blank line
    table = frame.to_numpy()
    del frame
    if not all(np.isfinite(table[:, i]).all() for i in range(width)):  # no table-sized temporary
        return None
    return table


def _delimiter(delimiter: str) -> bool:
    return len(delimiter.encode()) == 1 and delimiter not in '"' + TIGHT.decode()


def _skipped_lines(raw: bytes, start: int) -> int | None:
    """The lines before the body (0 or the header's 1), or None when the header does not end in
    a \\n, where polars' skip_lines would not find the body."""
    if start == 0:
        return 0
    if raw[start - 1 : start] == b"\n" and raw.count(b"\n", 0, start) == 1:
        return 1
    return None


def _crlf_only(raw: bytes, start: int) -> bool:
    """Whether every \\r in raw[start:] comes before a \\n (polars ends lines at \\n only)."""
    if raw.find(b"\r", start) < 0:
        return True
    return raw.count(b"\r", start) == raw.count(b"\r\n", start)
