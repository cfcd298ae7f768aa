"""Fuzzing the CSV reader (issue 7): random CSV bytes, in process.

Whatever the bytes, read_csv either returns finite float32 arrays of the right shape, every
cell of which is an ASCII decimal literal, or raises SpecError with E5xx diagnostics that name
the CSV file. The grammar is written out again here, independently of
stackspec.training.data's regex.
"""

from __future__ import annotations

import csv
import functools
import io
import re
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import stackspec
from stackspec.diagnostics import MAX_REPORTED, SpecError
from stackspec.training.data import read_csv

from .catalogue import FUZZ_EXAMPLES

# sign? (digits [. digits?] | . digits) (e sign? digits)?, spaces or tabs around it
GRAMMAR = re.compile(r"[ \t]*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?[ \t]*", re.ASCII)

NUMBERS = st.one_of(
    st.integers(-(10**6), 10**6).map(str),
    st.floats(allow_nan=False, allow_infinity=False, width=32).map(repr),
    st.floats(allow_nan=False, allow_infinity=False, width=32).map(lambda v: f"{v:.3e}"),
    st.sampled_from(["1.", "+.5", "-.25", "6.02E23", "1e-50", "3.4028235e38", "0", "-0"]),
    st.tuples(st.sampled_from(["", " ", "\t", "  "]), st.integers(0, 99)).map(
        lambda p: f"{p[0]}{p[1]}{p[0]}"
    ),
)
ODD = st.sampled_from(
    [
        "５", "٥", "1_000", "0x10", "1e", "1e+", ".", "+", "-", "nan", "-inf", "Infinity",
        "1e39", "", " ", "\f1", "1\xa0", "1 2", "abc", "--1", "1,5", "1\n", '"', '""', "\x1b[2J",
        "\x00", "\u2028",
    ]
)  # fmt: skip
CELLS = st.one_of(NUMBERS, NUMBERS, ODD, st.text(alphabet='0123456789.,eE+- "\r\n\tx', max_size=6))
ENDINGS = st.sampled_from(["\n", "\r\n", "\r"])


@functools.lru_cache
def spec_ir(width: int):
    return stackspec.parse(f"input {width}\ndense 1\n").ir


def quote(cell: str, how: int) -> str:
    """0: as is; 1: quoted as RFC 4180 says; 2: a bare quote in front (often never closed)."""
    if how == 1:
        return '"' + cell.replace('"', '""') + '"'
    return '"' + cell if how == 2 else cell


@st.composite
def csv_bytes(draw) -> tuple[bytes, int]:
    width = draw(st.integers(2, 4))
    names = [f"c{i}" for i in range(width - 1)] + ["t"]
    lines = [",".join(quote(n, draw(st.sampled_from([0, 0, 1]))) for n in names)]
    clean = draw(st.booleans())  # numbers only: mostly files that are accepted
    cells = NUMBERS if clean else CELLS
    hows = st.sampled_from([0, 0, 1] if clean else [0, 0, 0, 0, 0, 1, 2])
    for _ in range(draw(st.integers(0, 6))):
        if draw(st.integers(0, 9)) == 0:
            lines.append("")  # a blank line
            continue
        n = width if clean or draw(st.integers(0, 5)) else draw(st.integers(1, width + 1))
        lines.append(",".join(quote(draw(cells), draw(hows)) for _ in range(n)))
    text = "".join(line + draw(ENDINGS) for line in lines)
    if not draw(st.integers(0, 4)):
        text = text.rstrip("\r\n")
    data = ("\ufeff" if draw(st.booleans()) else "") + text
    raw = data.encode("utf-8")
    if not draw(st.integers(0, 9)):  # a latin-1 byte somewhere: not UTF-8
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + b"\xe9" + raw[at:]
    return raw, width


def check(raw: bytes, width: int, need_target: bool) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "d.csv"
        path.write_bytes(raw)
        try:
            ds = read_csv(path, spec_ir(width - 1), "t", need_target)
        except SpecError as e:
            assert e.diagnostics
            for d in e.diagnostics:
                assert d.file == str(path) and d.code.startswith("E5"), d
            assert len(e.diagnostics) <= MAX_REPORTED
            return
    # Accepted: the same rows by the csv module, each cell a number of the grammar.
    text = raw.decode("utf-8-sig")
    rows = [r for r in csv.reader(io.StringIO(text, newline="")) if r and any(c.strip() for c in r)]
    header, body = rows[0], rows[1:]
    assert all(GRAMMAR.fullmatch(c) for row in body for c in row), body
    values = np.array([[float(c) for c in row] for row in body], dtype=np.float32)
    t = header.index("t") if "t" in header else None
    features = [i for i in range(len(header)) if i != t]
    assert ds.X.dtype == np.float32 and np.isfinite(ds.X).all()
    assert ds.X.shape == (len(body), len(features))
    assert np.array_equal(ds.X, values[:, features])
    if need_target:
        assert ds.y.dtype == np.float32 and np.array_equal(ds.y, values[:, t])


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(csv_bytes(), st.booleans())
def test_fuzz_csv_bytes_give_arrays_or_e5xx(case, need_target):
    raw, width = case
    check(raw, width, need_target)


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.binary(max_size=64), st.booleans())
def test_fuzz_random_bytes_give_arrays_or_e5xx(raw, with_header):
    check(b"a,b,t\n" + raw if with_header else raw, 3, with_header)


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.lists(st.lists(NUMBERS, min_size=3, max_size=3), min_size=1, max_size=8),
    st.data(),
    ENDINGS,
)
def test_fuzz_unterminated_quote_is_named_where_it_opens(rows, data, ending):
    """A quote opened at the start of any cell, and never closed, is named at that cell."""
    row = data.draw(st.integers(0, len(rows) - 1))
    col = data.draw(st.integers(0, 2))
    rows[row][col] = '"' + rows[row][col]
    raw = ("a,b,t" + ending + "".join(",".join(r) + ending for r in rows)).encode()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "d.csv"
        path.write_bytes(raw)
        try:
            read_csv(path, spec_ir(2), "t")
        except SpecError as e:
            [d] = e.diagnostics
            assert (d.code, d.span.line, d.span.column) == ("E501", row + 2, col + 1), d
            assert d.file == str(path)
        else:
            raise AssertionError("an unterminated quote was accepted")


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.lists(st.one_of(NUMBERS, ODD), min_size=3, max_size=3), min_size=1, max_size=40))
def test_fuzz_every_bad_cell_is_counted(rows):
    """Every cell outside the grammar (or not finite in float32) is an error; past 50 the last
    diagnostic says how many more."""
    rows = [[c.replace('"', '""') for c in r] for r in rows]
    text = "a,b,t\n" + "".join(",".join(f'"{c}"' for c in r) + "\n" for r in rows)

    def bad(cell: str) -> bool:
        cell = cell.replace('""', '"')
        if not GRAMMAR.fullmatch(cell):
            return True
        with np.errstate(over="ignore"):
            return not np.isfinite(np.float32(float(cell)))

    total = sum(bad(c) for r in rows for c in r)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "d.csv"
        path.write_text(text)
        try:
            read_csv(path, spec_ir(2), "t")
        except SpecError as e:
            diags = e.diagnostics
            assert {d.code for d in diags} <= {"E506", "E507", "E508"}
            assert len(diags) == min(total, MAX_REPORTED)
            if total > MAX_REPORTED:
                assert f"... and {total - MAX_REPORTED + 1} more" in diags[-1].message
        else:
            assert total == 0
