"""The polars path for plain numeric CSVs (polars_csv.py, the `polars` extra): what it takes,
what it leaves to pyarrow and the careful reader, and its float parse against Python's float().
tests/reliability/test_fuzz_tables.py compares it with the careful reader on generated files."""

from __future__ import annotations

import random
from decimal import Decimal, getcontext

import numpy as np
import pytest

import stackspec
from stackspec.diagnostics import Diagnostics, SpecError
from stackspec.training import data, polars_csv, tables
from stackspec.training.data import read_csv

pytest.importorskip("polars")


def spec_ir(width: int):
    return stackspec.parse(f"input {width}\ndense 1\n").ir


def body(text: str, width: int):
    raw = text.encode()
    end = min(raw.find(b"\n") % len(raw), raw.find(b"\r") % len(raw))  # the header's end
    start = end + 2 if raw.startswith(b"\r\n", end) else end + 1
    return polars_csv.polars_body(raw, start, width)


@pytest.mark.parametrize(
    "text",
    ["a,t\n1,2\n3,+4.5e1\n-.5,6.\n", "\ufeffa,t\r\n1,2\r\n3,4\r\n", "a,t\n1,2"],
)
def test_polars_takes_tight_plain_files(text):
    table = body(text, 2)
    assert table is not None and table.dtype == np.float32
    d = Diagnostics("d.csv")
    header, rows, plain = data._split_rows(text.lstrip("\ufeff"), d)
    assert np.array_equal(table, data._parse_cells(header, rows, plain, d))


@pytest.mark.parametrize(
    "text",
    [
        "a,t\n1, 2\n",  # a space: pyarrow's
        "a,t\r1,2\r",  # lone \r line ends: pyarrow's
        "a,t\n1,2\r3,4\n",
        "a,t\n1,\n",  # an empty cell
        "a,t\n1\n",  # a short row
        "a,t\n1,2\n\n3,4\n",  # a blank line (a null to polars): pyarrow's
        "a,t\n1,2,3\n",  # a long row
        "a,t\n1e,2\n",  # a cell polars rejects
        "a,t\n1,1e39\n",  # not finite in float32
        "a,t\n1,nan\n",
        "a,t\n",  # no rows
    ],
)
def test_polars_declines_what_it_cannot_vouch_for(text):
    assert body(text, 2) is None


def test_polars_rounds_through_float64_as_numpy_does():
    """A decimal just above a float32 midpoint: float64 rounds it onto the midpoint and float32
    then rounds to even (down), as the careful reader does; a direct float32 parse rounds up."""
    getcontext().prec = 60
    cell = str(Decimal(1) + Decimal(2) ** -24 + Decimal(2) ** -70)
    assert body(f"a\n{cell}\n", 1)[0, 0] == np.float32(float(cell)) == np.float32(1)


def decimal_strings(n: int, seed: int) -> list[str]:
    """Decimal literals that are hard to round: long mantissas, far exponents, and values a
    hair either side of (or exactly at) the midpoint between two float64s or two float32s."""
    rng = random.Random(seed)
    getcontext().prec = 80
    out = []
    for _ in range(n):
        kind = rng.randrange(4)
        if kind == 0:
            digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 40)))
            point = rng.randint(0, len(digits))
            cell = f"{digits[:point]}.{digits[point:]}e{rng.randint(-340, 320)}"
        elif kind == 1:
            cell = repr(rng.uniform(0, 1) * 10.0 ** rng.randint(-300, 300))
        else:
            if kind == 2:  # between two float32s
                a = float(np.float32(rng.uniform(0.5, 2) * 2.0 ** rng.randint(-126, 127)))
                b = float(np.nextafter(np.float32(a), np.float32(np.inf)))
            else:  # between two float64s, subnormals included
                a = rng.uniform(0.5, 2) * 2.0 ** rng.randint(-1074, 1023)
                b = float(np.nextafter(a, np.inf))
            mid = (Decimal(a) + Decimal(b)) / 2
            cell = str(mid + rng.choice([0, 1, -1]) * abs(mid) * Decimal(2) ** -rng.randint(54, 80))
        out.append(("-" if rng.random() < 0.3 else "") + cell)
    return out


def test_polars_float64_parse_is_correctly_rounded():
    import polars as pl

    cells = decimal_strings(20_000, seed=9)
    frame = pl.read_csv(
        ("\n".join(cells) + "\n").encode(),
        has_header=False,
        quote_char=None,
        schema={"c0": pl.Float64},
    )
    got = frame["c0"].to_numpy()
    want = np.array([float(cell) for cell in cells])
    wrong = [cells[i] for i in np.flatnonzero(got.view(np.int64) != want.view(np.int64))]
    assert not wrong


def test_polars_values_through_read_csv_equal_the_careful_readers(tmp_path, monkeypatch):
    with np.errstate(over="ignore"):
        cells = [c for c in decimal_strings(3000, seed=1) if np.isfinite(np.float32(float(c)))]
    rows = [cells[i : i + 3] for i in range(0, len(cells) - 2, 3)]
    path = tmp_path / "d.csv"
    path.write_text("a,b,t\n" + "".join(",".join(r) + "\n" for r in rows))
    monkeypatch.setattr(tables, "pyarrow_modules", lambda: None)
    fast = read_csv(path, spec_ir(2), "t")
    monkeypatch.setattr(data, "numeric_table", lambda raw: None)
    monkeypatch.setattr(data, "numeric_file", lambda path: None)
    careful = read_csv(path, spec_ir(2), "t")
    assert fast.X.tobytes() == careful.X.tobytes() and fast.y.tobytes() == careful.y.tobytes()


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("a,t\n1,2\n\n3,1e\n", ("E507", 4, 2)),
        ("a,t\n1,2\n4,\n", ("E506", 3, 2)),
        ("a,t\n1,2\n1e39,1\n", ("E508", 3, 1)),
    ],
)
def test_a_bad_cell_gets_the_careful_readers_diagnostic(tmp_path, monkeypatch, text, found):
    path = tmp_path / "d.csv"
    path.write_text(text)
    monkeypatch.setattr(tables, "pyarrow_modules", lambda: None)
    with pytest.raises(SpecError) as e:
        read_csv(path, spec_ir(1), "t")
    [d] = e.value.diagnostics
    assert (d.code, d.span.line, d.span.column) == found


def test_without_polars_pyarrow_reads_the_file(monkeypatch):
    pytest.importorskip("pyarrow")
    monkeypatch.setattr(polars_csv, "polars_module", lambda: None)
    header, table = tables.numeric_table(b"a,t\n1,2\n")
    assert header == ["a", "t"] and table.tolist() == [[1, 2]]


@pytest.mark.parametrize("text", ["a,t\r\n1,2\r\n3,4\r\n", "a,t\n1,2\r3,4\n", "a,t\n1, 2\n"])
def test_a_mapped_file_is_checked_block_by_block(tmp_path, monkeypatch, text):
    """Blocks of 3 bytes: a \\r\\n cut between two blocks is still a line end, a lone \\r or a
    space in any block declines."""
    monkeypatch.setattr(polars_csv, "BLOCK", 3)
    path = tmp_path / "d.csv"
    path.write_bytes(text.encode())
    found = tables.numeric_file(path)
    if "\r\n" in text:
        assert found[0] == ["a", "t"] and found[1].tolist() == [[1, 2], [3, 4]]
    else:
        assert found is None
