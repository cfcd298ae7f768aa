"""`stackspec schema`: the suggested `input` line and `data` section for small tables."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from stackspec.cli import main
from stackspec.training.schema import schema_text, sniff, token


def write(tmp_path, text: str, name: str = "d.csv"):
    path = tmp_path / name
    path.write_bytes(text.encode())
    return path


def section(text: str) -> list[str]:
    """The data section's lines, comments after settings removed."""
    body = text.split("data {\n", 1)[1].rsplit("}", 1)[0]
    return [line.strip().split("  #")[0] for line in body.splitlines()]


def test_numeric_columns_and_integer_target_give_labels(tmp_path):
    path = write(tmp_path, "a,b,quality\n1.5,2,5\n2.5,3,6\n0,1,5\n")
    text = schema_text(path, "quality")
    assert "\ninput 2  # 2 numeric\n" in text
    assert section(text) == ["target quality", "labels [5, 6]"]
    assert "dense 2 softmax" in text


def test_categorical_drop_id_missing_and_delimiter(tmp_path):
    rows = "".join(
        f"{i};{i % 3 or ''};{['red', 'white', 'rose'][i % 3]};name {i};{i % 2}\n" for i in range(30)
    )
    path = write(tmp_path, "id;fixed acidity;color;who;label\n" + rows)
    text = schema_text(path, "label")
    assert "\ninput 4  # 1 numeric + 3 one-hot\n" in text
    assert section(text) == [
        "target label",
        "labels [0, 1]",
        "drop id",
        "drop who",
        "categorical color=[red, rose, white]",
        '# empty cells: "fixed acidity" 10',
        "missing mean",
        'delimiter ";"',
        "keep id",
    ]


def test_regression_and_text_targets(tmp_path):
    path = write(tmp_path, "x,y,kind\n1,0.5,cat\n2,1.25,dog\n3,7.5,cat\n")
    assert section(schema_text(path, "y"))[0] == "target y"
    assert "loss mse" in schema_text(path, "y")
    assert section(schema_text(path, "kind"))[:2] == ["target kind", "labels [cat, dog]"]


def test_without_a_target_every_column_is_a_feature(tmp_path):
    text = schema_text(write(tmp_path, "a\tb\n1\t2\n"))
    assert "\ninput 2  # 2 numeric\n" in text
    assert '  delimiter "\\t"' in text and "--target" in text


@pytest.mark.parametrize(
    "text, expected",
    [("red", "red"), ("3", "3"), ("-2.5", "-2.5"), ("a b", '"a b"'), ("data", '"data"'),
     ('say "hi"', '"say \\"hi\\""'), ("é", '"é"'), ("+1", '"+1"')],
)  # fmt: skip
def test_tokens_are_bare_or_quoted(text, expected):
    assert token(text) == expected


def test_sniff():
    assert [sniff(x) for x in ["a,b", "a;b;c", "a\tb", "a|b", "ab", "a;b,c"]] == [
        ",", ";", "\t", "|", ",", ",",
    ]  # fmt: skip


def test_parquet(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"a": [1.0, None, 3.0], "c": ["x", "y", "x"], "t": [0, 1, 1]}), path)
    text = schema_text(path, "t")
    assert "\ninput 3  # 1 numeric + 2 one-hot\n" in text
    assert section(text) == [
        "target t", "labels [0, 1]", "categorical c=[x, y]", "# empty cells: a 1", "missing mean",
    ]  # fmt: skip


def test_cli(tmp_path):
    path = write(tmp_path, "a,t\n1,0\n2,1\n")
    result = CliRunner().invoke(main, ["schema", str(path), "--target", "t"])
    assert result.exit_code == 0, result.output
    assert result.output == schema_text(path, "t")
    result = CliRunner().invoke(main, ["schema", str(tmp_path / "none.csv")])
    assert result.exit_code == 1 and "E501" in result.output
