"""The data section (LANGUAGE.md §11): syntax, binding, encoding, weight files, the CLI."""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner
from conftest import DATA, SPECS

import stackspec
from stackspec.cli import main
from stackspec.compiler.fmt import format_source
from stackspec.diagnostics import SpecError
from stackspec.training.data_section import read_encoded, read_training, sniff
from stackspec.training.weights import load_weights_and_data

HEAD = "input {n}\ndense {out}\n"


def spec(data: str, n: int = 2, out: int = 1, loss: str = "mse") -> stackspec.Spec:
    text = HEAD.format(n=n, out=out) + f"data {{\n{data}\n}}\ntrain {{\n  loss {loss}\n}}\n"
    return stackspec.parse(text)


def write(tmp_path, text: str, name: str = "d.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def codes(excinfo) -> list[str]:
    return [d.code for d in excinfo.value.diagnostics]


def train_all(s, path):
    """Read every row for training (no validation split)."""
    ds, valid, learned = read_training(path, s.ir, s.ir.data, None, 0, 0)
    assert valid is None
    return ds, learned


# --- syntax and binding ---------------------------------------------------------------------


def test_ir_carries_the_section_with_defaults():
    s = spec("  target y\n  drop id\n  categorical c=[a, b] unknown=ignore\n  keep id")
    assert s.ir.data == {
        "target": ["y"],
        "drop": ["id"],
        "keep": ["id"],
        "categorical": {"c": {"values": ["a", "b"], "unknown": "ignore"}},
        "labels": None,
        "missing": "error",
        "delimiter": "auto",
    }
    assert json.loads(s.ir.dumps())["data"]["target"] == ["y"]


def test_without_a_section_the_ir_and_its_hash_are_unchanged():
    plain = stackspec.parse("input 2\ndense 1\n")
    with_section = stackspec.parse("input 2\ndense 1\ndata {\n  target y\n}\n")
    assert "data" not in json.loads(plain.ir.dumps())
    assert plain.ir.model_hash() == with_section.ir.model_hash()


def test_data_stays_an_ordinary_name_elsewhere():
    s = stackspec.parse("let data = 4\ninput 2\ndense data\n")
    assert s.ir.output_shape == (4,)


@pytest.mark.parametrize(
    "body, code, words",
    [
        ("  targt y", "E212", "did you mean 'target'"),
        ("  missing meen", "E203", "did you mean 'mean'"),
        ('  delimiter ":"', "E203", "delimiter"),
        ("  labels 3", "E204", "list"),
        ("  target y\n  target z", "E207", "twice"),
        ("  categorical c=[a, a]", "E207", "twice"),
        ("  categorical c=[a] d=[b]", "E206", "one column"),
        ("  target y\n  drop y", "E214", "both a target"),
    ],
)
def test_binding_errors(body, code, words):
    with pytest.raises(SpecError) as e:
        spec(body)
    assert code in codes(e)
    assert words in str(e.value)


def test_second_section_and_label_count():
    with pytest.raises(SpecError) as e:
        stackspec.parse("input 2\ndense 1\ndata {\n}\ndata {\n}\n")
    assert "a second `data` section" in str(e.value)
    with pytest.raises(SpecError) as e:
        spec("  target y\n  labels [a, b, c]", out=2, loss="crossentropy")
    assert "3 labels" in str(e.value)


def test_a_list_is_not_a_layer_argument():
    with pytest.raises(SpecError) as e:
        stackspec.parse("input 2\ndense [1, 2]\n")
    assert "E204" in codes(e)


def test_fmt_is_idempotent_and_keeps_comments():
    text = 'input 2\ndense 1\ndata {\n  labels [a,b ,  c]  # three\n  delimiter "\\t"\n}\n'
    once = format_source(text)
    assert "  labels [a, b, c]  # three\n" in once and '  delimiter "\\t"\n' in once
    assert format_source(once) == once


# --- encoding -------------------------------------------------------------------------------


def test_string_labels_auto_are_sorted_and_stored(tmp_path):
    s = spec("  target kind\n  labels auto", n=1, out=3, loss="crossentropy")
    path = write(tmp_path, "x,kind\n1,dog\n2,cat\n3,emu\n4,cat\n")
    ds, learned = train_all(s, path)
    assert learned["labels"] == ["cat", "dog", "emu"]
    assert ds.y.tolist() == [1, 0, 2, 0]


def test_numeric_labels_auto_sort_numerically(tmp_path):
    s = spec("  target q\n  labels auto", n=1, out=3, loss="crossentropy")
    _, learned = train_all(s, write(tmp_path, "x,q\n1,10\n2,9\n3,10.0\n4,100\n"))
    assert learned["labels"] == ["9", "10", "100"]


def test_listed_labels_and_an_unknown_one(tmp_path):
    s = spec("  target q\n  labels [3, 4, 5]", n=1, out=3, loss="crossentropy")
    ds, _ = train_all(s, write(tmp_path, "x,q\n1,5\n2,3.0\n"))
    assert ds.y.tolist() == [2, 0]
    with pytest.raises(SpecError) as e:
        train_all(s, write(tmp_path, "x,q\n1,5\n2,6\n"))
    assert "E510" in codes(e) and "row 3, column 2 ('q')" in str(e.value)


def test_categorical_one_hot_in_declared_order(tmp_path):
    s = spec("  target y\n  categorical c=[red, white, rose]", n=4)
    ds, learned = train_all(s, write(tmp_path, "c,x,y\nrose,1,0\nred,2,1\n"))
    assert ds.X.tolist() == [[0, 0, 1, 1], [1, 0, 0, 2]]
    assert learned["features"] == ["c=red", "c=white", "c=rose", "x"]


def test_categorical_unknown_value(tmp_path):
    path = write(tmp_path, "c,x,y\nred,1,0\nblue,2,1\n")
    with pytest.raises(SpecError) as e:
        train_all(spec("  target y\n  categorical c=[red, white]", n=3), path)
    assert "E513" in codes(e) and "row 3, column 1 ('c')" in str(e.value)
    ds, _ = train_all(spec("  target y\n  categorical c=[red, white] unknown=ignore", n=3), path)
    assert ds.X[1].tolist() == [0, 0, 2]


CSV_MISSING = "a,b,y\n1,,0\n3,4,1\n,8,2\n5,6,3\n"


@pytest.mark.parametrize(
    "strategy, first, third",
    [("mean", [1, 6], [3, 8]), ("median", [1, 6], [3, 8]), ("zero", [1, 0], [0, 8])],
)
def test_missing_imputation(tmp_path, strategy, first, third):
    s = spec(f"  target y\n  missing {strategy}")
    ds, learned = train_all(s, write(tmp_path, CSV_MISSING))
    assert ds.X[0].tolist() == first and ds.X[2].tolist() == third
    assert set(learned["impute"]) == {"a", "b"}


def test_imputation_comes_from_the_training_split(tmp_path):
    rows = "".join(f"{i},{i}\n" for i in range(1, 21))
    s = spec("  target y\n  missing mean", n=1)
    path = write(tmp_path, "a,y\n" + rows + ",0\n")  # the row with y=0 lacks `a`
    train, valid, learned = read_training(path, s.ir, s.ir.data, None, 0.3, 0)
    present = train.X[train.y != 0, 0]
    assert learned["impute"]["a"] == pytest.approx(present.mean())
    assert learned["impute"]["a"] != pytest.approx(10.5)  # the mean of every row


def test_missing_error_and_drop(tmp_path):
    path = write(tmp_path, CSV_MISSING)
    with pytest.raises(SpecError) as e:
        train_all(spec("  target y"), path)
    assert "E506" in codes(e) and "row 2, column 2 ('b')" in str(e.value)
    assert "missing mean" in str(e.value)
    s = spec("  target y\n  missing drop")
    train, _, _ = read_training(path, s.ir, s.ir.data, None, 0, 0)
    assert train.X.tolist() == [[3, 4], [5, 6]]
    assert train.notes == [f"{path}: dropped 2 of 4 rows with missing cells (missing drop)"]


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_delimiters_are_sniffed(tmp_path, sep):
    text = sep.join(["a", "b", "y"]) + "\n" + sep.join(["1.5", "2", "3"]) + "\n"
    assert sniff(text) == sep
    ds, _ = train_all(spec("  target y"), write(tmp_path, "\ufeff" + text))
    assert ds.X.tolist() == [[1.5, 2]] and ds.y.tolist() == [3]


def test_a_listed_delimiter_and_a_bom(tmp_path):
    ds, _ = train_all(spec('  target y\n  delimiter ";"'), write(tmp_path, "\ufeffa;b;y\n1;2;3\n"))
    assert ds.X.tolist() == [[1, 2]]


def test_multi_target_regression(tmp_path):
    s = spec("  target y1 y2", n=1, out=2)
    ds, _ = train_all(s, write(tmp_path, "y1,x,y2\n1,5,2\n3,6,4\n"))
    assert ds.X.tolist() == [[5], [6]] and ds.y.tolist() == [[1, 2], [3, 4]]
    with pytest.raises(SpecError) as e:
        train_all(spec("  target y1 y2", n=1, out=1), write(tmp_path, "y1,x,y2\n1,5,2\n"))
    assert "E511" in codes(e)


def test_feature_count_error_names_the_columns(tmp_path):
    with pytest.raises(SpecError) as e:
        train_all(spec("  target y", n=2), write(tmp_path, "id,a,b,y\n1,2,3,4\n"))
    assert "E509" in codes(e)
    assert "3 features (id, a, b)" in str(e.value) and "1 too many" in str(e.value)


def test_unknown_column_names_get_a_hint(tmp_path):
    with pytest.raises(SpecError) as e:
        train_all(spec("  target y\n  drop idd", n=1), write(tmp_path, "id,a,y\n1,2,3\n"))
    assert "E504" in codes(e) and "did you mean 'id'" in str(e.value)


def test_predict_without_stored_values_needs_them(tmp_path):
    s = spec("  target y\n  missing mean", n=1)
    with pytest.raises(SpecError) as e:
        read_encoded(write(tmp_path, "a,y\n1,2\n"), s.ir, s.ir.data, None, False)
    assert "E609" in codes(e)


# --- the command line and weight files ------------------------------------------------------

CLASSIFIER = """input 3
dense 3
data {
  target kind
  drop note
  categorical color=[red, white]
  labels auto
  missing mean
  keep id
}
train {
  loss crossentropy
  epochs 2
}
"""


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_train_predict_and_evaluate_with_a_section(tmp_path):
    (tmp_path / "s.stack").write_text(CLASSIFIER)
    rows = ["id;color;x;note;kind"]
    for i in range(30):
        x = "" if i == 4 else str(i % 5)
        rows.append(f"w{i};{'red' if i % 2 else 'white'};{x};n;{['ant', 'bee', 'cat'][i % 3]}")
    data = write(tmp_path, "\n".join(rows) + "\n")
    r = run("train", tmp_path / "s.stack", "--data", data, "--out", tmp_path / "run")
    assert r.exit_code == 0, r.output
    weights = tmp_path / "run" / "weights.safetensors"
    _, _, learned = load_weights_and_data(weights, stackspec.parse(CLASSIFIER).ir)
    assert learned["labels"] == ["ant", "bee", "cat"] and "x" in learned["impute"]
    # Predict on rows holding one class only: the stored label map is used, not re-derived.
    few = write(tmp_path, "id;color;x;note;kind\nq1;red;;n;cat\nq2;white;2;n;cat\n", "p.csv")
    r = run("predict", tmp_path / "s.stack", "--weights", weights, "--data", few)
    assert r.exit_code == 0, r.output
    out = list(csv.DictReader(io.StringIO(r.output)))
    assert [row["id"] for row in out] == ["q1", "q2"]
    assert {row["label"] for row in out} <= {"ant", "bee", "cat"}
    r = run("evaluate", tmp_path / "s.stack", "--weights", weights, "--data", few)
    assert r.exit_code == 0 and r.output.startswith("loss: ")


def test_cli_flags_override_the_section(tmp_path):
    (tmp_path / "s.stack").write_text("input 1\ndense 1\ntrain {\n  epochs 1\n}\n")
    data = write(tmp_path, "id\tx\ty\n" + "".join(f"{i}\t{i}\t{2 * i}\n" for i in range(10)))
    args = ["train", tmp_path / "s.stack", "--data", data, "--out", tmp_path / "run"]
    r = run(*args, "--target", "y", "--drop", "id", "--delimiter", "tab")
    assert r.exit_code == 0, r.output
    assert run(*args, "--drop", "id").exit_code == 2  # no target anywhere


def test_red_wine_classes_trains_through_the_cli(tmp_path):
    out = tmp_path / "run"
    r = run(
        "train", SPECS / "red_wine_classes.stack", "--data", DATA,
        "--epochs", "2", "--out", out,
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    r = run(
        "predict", SPECS / "red_wine_classes.stack", "--weights", out / "weights.safetensors",
        "--data", DATA,
    )  # fmt: skip
    labels = {row["label"] for row in csv.DictReader(io.StringIO(r.output))}
    assert labels <= {"3", "4", "5", "6", "7", "8"} and labels


def test_api_save_and_load_keep_the_encoding(tmp_path):
    s = stackspec.parse(CLASSIFIER)
    model = s.compile("numpy")
    model.encoding = {"version": 1, "labels": ["a", "b", "c"], "impute": {}, "categorical": {}}
    model.save(tmp_path / "w.safetensors")
    other = s.compile("numpy").load(tmp_path / "w.safetensors")
    assert other.encoding == model.encoding


def test_api_read_data(tmp_path):
    s = stackspec.parse(CLASSIFIER)
    path = write(tmp_path, "id,color,x,note,kind\na,red,1,n,bee\nb,white,,n,ant\nc,red,1,n,cat\n")
    ds = s.read_data(path)
    assert ds.X.tolist() == [[1, 0, 1], [0, 1, 1], [1, 0, 1]] and ds.y.tolist() == [1, 0, 2]
    assert ds.encoding["labels"] == ["ant", "bee", "cat"]
    model = s.compile("numpy")
    model.encoding = ds.encoding
    model.save(tmp_path / "w.safetensors")
    loaded = s.compile("numpy").load(tmp_path / "w.safetensors")
    again = s.read_data(write(tmp_path, "id,color,x,note,kind\nc,red,,n,bee\n", "p.csv"),
                        encoding=loaded.encoding)  # fmt: skip
    assert again.X.tolist() == [[1, 0, 1]] and again.y.tolist() == [1]


def test_api_read_data_without_a_section(tmp_path):
    s = stackspec.parse("input 2\ndense 1\n")
    ds = s.read_data(write(tmp_path, "a,b,y\n1,2,3\n"), target="y")
    assert ds.X.tolist() == [[1, 2]] and ds.y.tolist() == [3] and ds.encoding is None


# --- Parquet with a data section --------------------------------------------------------------


def test_parquet_with_labels_categories_and_nulls_reads_as_the_same_csv(tmp_path):
    """A Parquet file gives the cells a CSV of the same table would: strings for labels and
    categories, nulls as missing cells, floats that read back to the same float32."""
    pytest.importorskip("pyarrow")
    import pyarrow as pa
    import pyarrow.parquet as pq

    s = spec(
        "  target kind\n  labels auto\n  categorical c=[red, white]\n  missing mean",
        n=3,
        out=2,
        loss="crossentropy",
    )
    columns = {"c": ["red", "white", "red"], "x": [0.1, None, 2.5], "kind": ["dog", "cat", "dog"]}
    pq.write_table(pa.table(columns), tmp_path / "d.parquet")
    csv_path = write(tmp_path, "c,x,kind\nred,0.1,dog\nwhite,,cat\nred,2.5,dog\n")
    from_parquet, learned = train_all(s, str(tmp_path / "d.parquet"))
    from_csv, learned_csv = train_all(s, csv_path)
    assert from_parquet.X.tolist() == from_csv.X.tolist()
    assert from_parquet.y.tolist() == from_csv.y.tolist() == [1, 0, 1]
    assert learned == learned_csv and learned["labels"] == ["cat", "dog"]


def test_parquet_unknown_category_names_the_row(tmp_path):
    pytest.importorskip("pyarrow")
    import pyarrow as pa
    import pyarrow.parquet as pq

    s = spec("  target y\n  categorical c=[red, white]", n=2)
    pq.write_table(pa.table({"c": ["red", "blue"], "y": [1.0, 2.0]}), tmp_path / "d.parquet")
    with pytest.raises(SpecError) as e:
        train_all(s, str(tmp_path / "d.parquet"))
    assert codes(e) == ["E513"] and e.value.diagnostics[0].span.line == 3


def test_api_read_data_reads_the_file_once_so_stdin_works(tmp_path, monkeypatch):
    s = stackspec.parse(CLASSIFIER)
    text = "id,color,x,note,kind\na,red,1,n,bee\nb,white,,n,ant\nc,red,1,n,cat\n"
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(text.encode())))
    ds = s.read_data("-")
    assert ds.X.tolist() == [[1, 0, 1], [0, 1, 1], [1, 0, 1]] and ds.y.tolist() == [1, 0, 2]
    assert ds.file == "<stdin>"
