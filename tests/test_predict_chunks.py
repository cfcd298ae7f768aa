"""`stackspec predict` in chunks (issue 16, training/chunks.py): the same bytes as the whole file
read at once, the same diagnostics (absolute row numbers in a late chunk), and memory that does
not grow with the file."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from click.testing import CliRunner

from stackspec.cli import main
from stackspec.training import chunks

PLAIN = "input 3\ndense 8 relu\ndense 1\ntrain {\n  loss mse\n  batch 4\n  epochs 1\n}\n"
SECTION = """input 5
dense 8 relu
dense 3
data {
  target y
  keep id
  categorical c=[a, b]
  labels auto
  missing mean
}
train {
  loss crossentropy
  batch 4
  epochs 1
}
"""


def plain_csv(path, n: int, seed: int = 0) -> None:
    values = np.random.default_rng(seed).standard_normal((n, 4))
    np.savetxt(path, values, fmt="%.6g", delimiter=",", header="a,b,c,y", comments="")


def section_csv(path, n: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    lines = ["id,a,c,b,y,z"]
    for i in range(n):
        a = "" if i % 7 == 3 else f"{rng.standard_normal():.5g}"  # imputed with the mean
        c = "ab"[i % 2]
        lines.append(f'"r,{i}",{a},{c},{rng.standard_normal():.5g},{"xyz"[i % 3]},{i % 5}')
    path.write_text("\n".join(lines) + "\n")


def trained(tmp_path, text: str, data) -> tuple[str, str]:
    spec = tmp_path / "m.stack"
    spec.write_text(text)
    out = tmp_path / "run"
    args = ["train", str(spec), "--data", str(data), "--out", str(out), "--epochs", "1"]
    result = CliRunner().invoke(main, [*args, *(["--target", "y"] if "data {" not in text else [])])
    assert result.exit_code == 0, result.output
    return str(spec), str(out / "weights.safetensors")


def predict(spec, weights, data, out=None, target="y"):
    args = ["predict", spec, "--weights", weights, "--data", str(data), "--target", target]
    return CliRunner().invoke(main, [*args, *(["-o", str(out)] if out else [])])


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of 8 rows (two batches), and pieces of 64 bytes on the pyarrow path."""
    monkeypatch.setattr(chunks, "ROWS", 8)
    monkeypatch.setattr(chunks, "PIECE", 64)


def whole(monkeypatch) -> None:
    monkeypatch.setattr(chunks, "predict_chunks", lambda *args: None)


def both(tmp_path, monkeypatch, spec, weights, data) -> tuple[bytes, bytes]:
    """(chunked output, whole-file output) of the same run."""
    first = predict(spec, weights, data, tmp_path / "chunked.csv")
    assert first.exit_code == 0, first.output
    whole(monkeypatch)
    second = predict(spec, weights, data, tmp_path / "whole.csv")
    assert second.exit_code == 0, second.output
    return (tmp_path / "chunked.csv").read_bytes(), (tmp_path / "whole.csv").read_bytes()


@pytest.mark.parametrize("fast", [True, False])
def test_plain_chunks_equal_the_whole_file_byte_for_byte(tmp_path, monkeypatch, small_chunks, fast):
    data = tmp_path / "d.csv"
    plain_csv(data, 101)
    spec, weights = trained(tmp_path, PLAIN, data)
    if not fast:  # the careful reader's chunks, as without the `fast` extra
        monkeypatch.setattr(chunks, "pyarrow_modules", lambda: None)
    chunked, full = both(tmp_path, monkeypatch, spec, weights, data)
    assert chunked == full and chunked.count(b"\n") == 102


def test_section_chunks_equal_the_whole_file_byte_for_byte(tmp_path, monkeypatch, small_chunks):
    data = tmp_path / "d.csv"
    section_csv(data, 61)
    spec, weights = trained(tmp_path, SECTION, data)
    chunked, full = both(tmp_path, monkeypatch, spec, weights, data)
    assert chunked == full
    assert chunked.startswith(b"id,prediction_0") and b'"r,60"' in chunked


def test_missing_drop_in_chunks(tmp_path, monkeypatch, small_chunks):
    data = tmp_path / "d.csv"
    section_csv(data, 45)
    spec, weights = trained(tmp_path, SECTION.replace("missing mean", "missing drop"), data)
    chunked, full = both(tmp_path, monkeypatch, spec, weights, data)
    assert chunked == full and chunked.count(b"\n") == 1 + 45 - 6  # rows 3, 10, ... dropped


@pytest.mark.parametrize("text", [PLAIN, SECTION])
def test_parquet_in_row_batches(tmp_path, monkeypatch, small_chunks, text):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    data = tmp_path / "d.csv"
    (plain_csv if text == PLAIN else section_csv)(data, 50)
    spec, weights = trained(tmp_path, text, data)
    table = pacsv.read_csv(data)
    if text == SECTION:
        table = table.set_column(0, "id", table["id"].cast(pa.string()))
    pq.write_table(table, tmp_path / "d.parquet", row_group_size=7)  # groups across chunks
    chunked, full = both(tmp_path, monkeypatch, spec, weights, tmp_path / "d.parquet")
    assert chunked == full and chunked.count(b"\n") == 51


@pytest.mark.parametrize("fast", [True, False])
def test_a_bad_cell_in_a_late_chunk_is_named_by_its_row(tmp_path, monkeypatch, small_chunks, fast):
    data = tmp_path / "d.csv"
    plain_csv(data, 101)
    spec, weights = trained(tmp_path, PLAIN, data)
    lines = data.read_text().splitlines()
    lines[90] = lines[90].replace(",", ",x", 1)  # row 91, column 2
    data.write_text("\n".join(lines) + "\n")
    if not fast:
        monkeypatch.setattr(chunks, "pyarrow_modules", lambda: None)
    out = tmp_path / "p.csv"
    result = predict(spec, weights, data, out)
    assert result.exit_code == 1 and "d.csv:91:2: error[E507]" in result.output
    assert not out.exists()
    whole(monkeypatch)
    assert predict(spec, weights, data, out).output == result.output


def test_a_bad_label_value_in_a_late_chunk(tmp_path, monkeypatch, small_chunks):
    data = tmp_path / "d.csv"
    section_csv(data, 61)
    spec, weights = trained(tmp_path, SECTION, data)
    lines = data.read_text().splitlines()
    lines[55] = lines[55].replace(",a,", ",q,").replace(",b,", ",q,")  # row 56
    data.write_text("\n".join(lines) + "\n")
    result = predict(spec, weights, data)
    assert result.exit_code == 1 and "d.csv:56:3: error[E513]" in result.output
    assert "prediction" not in result.stdout  # nothing reached stdout


def test_stdout_gets_the_chunks_once_all_are_read(tmp_path, small_chunks):
    data = tmp_path / "d.csv"
    plain_csv(data, 30)
    spec, weights = trained(tmp_path, PLAIN, data)
    result = predict(spec, weights, data)
    assert result.exit_code == 0 and result.stdout.count("\n") == 31


def peak(spec, weights, data, out) -> int:
    tracemalloc.start()
    try:
        result = predict(spec, weights, data, out)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        assert result.exit_code == 0, result.output


def test_memory_stays_flat_as_the_file_grows(tmp_path, monkeypatch):
    """NumPy's arrays are traced (pyarrow's are not: the careful reader runs here). The whole
    file's peak doubles with its rows; the chunked peak does not."""
    monkeypatch.setattr(chunks, "ROWS", 256)
    monkeypatch.setattr(chunks, "pyarrow_modules", lambda: None)
    small, large = tmp_path / "small.csv", tmp_path / "large.csv"
    plain_csv(small, 3000)
    plain_csv(large, 6000)
    spec, weights = trained(tmp_path, PLAIN, small)
    chunked = [peak(spec, weights, path, tmp_path / "p.csv") for path in (small, large)]
    whole(monkeypatch)
    full = [peak(spec, weights, path, tmp_path / "p.csv") for path in (small, large)]
    assert full[1] - full[0] > 400_000  # the measure sees the rows the whole file adds
    assert chunked[1] - chunked[0] < 0.1 * (full[1] - full[0])
