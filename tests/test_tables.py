"""The fast readers of tables.py (plain numeric CSV through pyarrow, Parquet) and the
missing-pyarrow message. tests/reliability/test_fuzz_tables.py compares the fast path with the
careful reader on generated files."""

from __future__ import annotations

from decimal import Decimal, getcontext

import numpy as np
import pytest

import stackspec
from stackspec.diagnostics import SpecError, UserError
from stackspec.training import tables
from stackspec.training.data import read_csv

pytest.importorskip("pyarrow")


def spec_ir(width: int):
    return stackspec.parse(f"input {width}\ndense 1\n").ir


@pytest.mark.parametrize(
    "text",
    [
        "a,t\n1,2\n 3 ,\t+4.5e1\n\n-.5,6.\n",
        "\ufeff a ,t\r\n1,2\r\n",
        "a,t\r1e5,2\r3,4",
        '"a b",t\n1,2\n',
    ],
)
def test_fast_path_takes_plain_files(text):
    header, table = tables.numeric_table(text.encode())
    assert header[-1] == "t" and table.dtype == np.float32


@pytest.mark.parametrize(
    "text",
    [
        "a,t\n1,nan\n",
        "a,t\n1,\n",
        "c0,t\n0,",
        "a,b,c\n,,\n,,\n",
        "a,t\n1,2,3\n",
        "a,t\n1,1e39\n",
        '"a\nb",t\n1,2\n',
        "\na,t\n1,2\n",
    ],
)
def test_fast_path_declines_what_it_cannot_vouch_for(text):
    assert tables.numeric_table(text.encode()) is None


@pytest.mark.parametrize("word", ["nan", "-inf", "Infinity", "+INF", "NaN", "inF"])
def test_nan_and_infinity_words_are_declined(word):
    """The only cells outside data.NUMBER that pyarrow's float parser takes: the finite check
    turns them away, so the careful reader names them (E508)."""
    assert tables.numeric_table(f"a,t\n1,2\n{word},3\n".encode()) is None


@pytest.mark.parametrize(
    "cell", ["1d5", "0x10", "1_000", "\u0661", "\u00a01", '"1"', "'1'", "1.5f"]
)
def test_cells_numpy_or_python_might_take_are_declined(cell):
    assert tables.numeric_table(f"a,t\n1,2\n{cell},3\n".encode()) is None


def test_parts_of_mostly_blank_lines_still_give_every_row(monkeypatch):
    """A part's rows go after the line breaks of the parts before it: blank lines there leave
    a gap that is closed, and many of them outrun the room the bytes promise (then every
    part's breaks are counted first). The rows are the file's either way, CR CR LF too."""
    monkeypatch.setattr(tables, "MIN_PART", 8)
    monkeypatch.setattr(tables.os, "cpu_count", lambda: 4)
    body = "1,2\n" + "\n" * 40 + "3,4\n\n\n5,6\n" + "\r\n" * 30 + "7,8"
    result = tables.numeric_table(("a,t\n" + body).encode())
    rows = [[1, 2], [3, 4], [5, 6], [7, 8]]
    assert result[1].tolist() == rows
    plain = "a,t\n" + "1,2\n\n3,4\n" * 20 + "5,6\n"
    header, table = tables.numeric_table(plain.encode())
    assert table.tolist() == [[1, 2], [3, 4]] * 20 + [[5, 6]]
    assert tables.numeric_table(b"a,t\n" + b"1,2\r\r\n" * 30)[1].tolist() == [[1, 2]] * 30


def test_room_refused_counts_the_rows_first(monkeypatch):
    """Under an address-space limit the table's generous room may be refused: the exact
    count of rows is made first, as for many blank lines."""
    empty, sizes = np.empty, []

    def limited(shape, dtype):
        sizes.append(shape[0])
        if len(sizes) == 1:
            raise MemoryError
        return empty(shape, dtype)

    monkeypatch.setattr(tables.np, "empty", limited)
    header, table = tables.numeric_table(b"a,t\n1,2\n\n3,4\n")
    assert table.tolist() == [[1, 2], [3, 4]] and sizes[1] == 2


def test_float32_is_rounded_through_float64_as_numpy_does():
    """A decimal just above a float32 midpoint: float64 rounds it onto the midpoint and float32
    then rounds to even (down); a direct float32 parse would round up. The careful reader's
    result is the former."""
    getcontext().prec = 60
    cell = str(Decimal(1) + Decimal(2) ** -24 + Decimal(2) ** -70)
    header, table = tables.numeric_table(f"a\n{cell}\n".encode())
    assert table[0, 0] == np.float32(float(cell)) == np.float32(1)


def test_bad_target_on_the_fast_path_names_row_and_cell(tmp_path):
    ir = stackspec.parse("input 1\ndense 3\ntrain {\n loss crossentropy\n}\n").ir
    path = tmp_path / "d.csv"
    path.write_text("a,t\n1,0\n\n2,7.0\n")
    with pytest.raises(SpecError) as e:
        read_csv(path, ir, "t")
    [d] = e.value.diagnostics
    assert (d.code, d.span.line, d.span.column) == ("E510", 4, 2) and "7.0" in d.message


def test_bad_target_from_stdin_on_the_fast_path(monkeypatch):
    """stdin cannot be read again: its bytes are kept for the message."""
    import io
    import sys

    ir = stackspec.parse("input 1\ndense 3\ntrain {\n loss crossentropy\n}\n").ir
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"a,t\n1,0\n2,5\n")))
    with pytest.raises(SpecError) as e:
        read_csv("-", ir, "t")
    [d] = e.value.diagnostics
    assert (d.code, d.span.line, d.file) == ("E510", 3, "<stdin>")


def test_a_file_changed_before_the_message_is_said(tmp_path, monkeypatch):
    ir = stackspec.parse("input 1\ndense 3\ntrain {\n loss crossentropy\n}\n").ir
    path = tmp_path / "d.csv"
    path.write_text("a,t\n1,0\n2,5\n")
    real = tables.numeric_table

    def then_change(raw):
        path.write_text("a,t\n1,0\n")
        return real(raw)

    monkeypatch.setattr("stackspec.training.data.numeric_table", then_change)
    with pytest.raises(UserError, match="changed while it was read"):
        read_csv(path, ir, "t")


def write_parquet(path, columns: dict):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table(columns), path)
    return path


def test_parquet_numeric_columns_and_target(tmp_path):
    path = write_parquet(
        tmp_path / "d.parquet", {"a": [1, 2], "t": [0.5, 1.5], "b": [True, False], "c": [1.25, 2.0]}
    )
    ds = read_csv(path, spec_ir(3), "t")
    assert ds.features == ["a", "b", "c"] and ds.target == "t"
    assert ds.X.dtype == np.float32 and ds.X.tolist() == [[1, 1, 1.25], [2, 0, 2]]
    assert ds.y.tolist() == [0.5, 1.5]


def test_parquet_errors_name_column_and_row(tmp_path):
    path = write_parquet(
        tmp_path / "d.parquet",
        {"a": ["x", "y"], "b": [1.0, None], "c": [1.0, float("nan")], "t": [1, 2]},
    )
    with pytest.raises(SpecError) as e:
        read_csv(path, spec_ir(3), "t")
    found = [(d.code, d.span.line, d.span.column) for d in e.value.diagnostics]
    assert found == [("E507", 1, 1), ("E506", 3, 2), ("E508", 3, 3)]
    assert all(d.file == str(path) for d in e.value.diagnostics)


def test_parquet_shape_rules_are_the_csvs(tmp_path):
    path = write_parquet(tmp_path / "d.parquet", {"a": [1.0], "t": [1.0]})
    with pytest.raises(SpecError) as e:
        read_csv(path, spec_ir(3), "t")
    assert [d.code for d in e.value.diagnostics] == ["E509"]
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet")
    with pytest.raises(SpecError) as e:
        read_csv(bad, spec_ir(2), "t")
    assert e.value.diagnostics[0].code == "E501"


def test_parquet_without_pyarrow_says_what_to_install(tmp_path, monkeypatch):
    path = write_parquet(tmp_path / "d.parquet", {"a": [1.0], "t": [1.0]})
    monkeypatch.setattr(tables, "pyarrow_modules", lambda: None)
    with pytest.raises(
        UserError, match=r"reading Parquet needs pyarrow: pip install 'stackspec\[fast\]'"
    ):
        read_csv(path, spec_ir(1), "t")
    # a CSV is still read, by the careful reader
    csv = tmp_path / "d.csv"
    csv.write_text("a,t\n1,2\n")
    assert read_csv(csv, spec_ir(1), "t").X.tolist() == [[1.0]]


def test_a_long_file_with_bare_cr_line_ends_grows_the_table(tmp_path):
    text = "a,t\r" + "".join(f"{i},{i % 3}\r" for i in range(70_000)) + "1.5,2\n"
    header, table = tables.numeric_table(text.encode())
    assert table.shape == (70_001, 2) and table[-1].tolist() == [1.5, 2.0]
    path = tmp_path / "d.csv"
    path.write_text(text, newline="")
    assert np.array_equal(read_csv(path, spec_ir(1), "t").X[:, 0], table[:, 0])


def test_without_pyarrow_csv_reading_training_and_schema_work(tmp_path):
    """pyarrow is an optional extra: with its import blocked, a CSV trains (careful reader)."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    code = (
        "import sys; sys.modules['pyarrow'] = None\n"
        "from stackspec.cli import run\n"
        "sys.argv = ['stackspec'] + sys.argv[1:]\n"
        "run()\n"
    )
    train = [code, "train", "specs/red_wine.stack", "--data", "data/red-wine.csv", "--target",
             "quality", "--epochs", "1", "--out", str(tmp_path / "run")]  # fmt: skip
    for args in (train, [code, "schema", "data/red-wine.csv", "--target", "quality"]):
        result = subprocess.run(
            [sys.executable, "-c", *args], cwd=root, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, result.stderr
    assert "labels [3, 4, 5, 6, 7, 8]" in result.stdout


def test_line_breaks_are_counted_across_slices():
    """_breaks counts in slices of BLOCK bytes: a break on either side of a slice's edge, and
    \\r\\n, \\r and \\n breaks, each count once."""
    raw = (b"1,2\n" * (tables.BLOCK // 4 + 3)) + b"3,4\r\n5,6\r7,8\n"
    begin, end = 2, len(raw) - 1
    part = raw[begin:end]
    want = part.count(b"\n") + part.count(b"\r") - part.count(b"\r\n")
    assert tables._breaks(raw, begin, end) == want
    edge = b"x" * (tables.BLOCK - 1) + b"\n\n" + b"y"
    assert tables._breaks(edge, 0, len(edge)) == 2
