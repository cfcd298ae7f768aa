"""CSV loading: shapes, dtypes, and every bad file named by row and column (E5xx)."""

from __future__ import annotations

import numpy as np
import pytest

import stackspec
from stackspec.diagnostics import SpecError
from stackspec.training.arrays import as_arrays
from stackspec.training.data import read_csv, split

REG = stackspec.parse("input 3\ndense 1\ntrain {\n loss mae\n}\n").ir
IMG = stackspec.parse("input 1x2x2\nflatten\ndense 1\n").ir
CLS = stackspec.parse("input 2\ndense 4\ntrain {\n loss crossentropy\n}\n").ir
BCE = stackspec.parse("input 2\ndense 1\ntrain {\n loss bce\n}\n").ir
WIDE = stackspec.parse("input 2\ndense 4\n").ir


def write(tmp_path, text: str, name: str = "d.csv", encoding: str = "utf-8"):
    p = tmp_path / name
    p.write_bytes(text.encode(encoding))
    return p


def errors(tmp_path, text: str, ir=REG, target: str | None = "t", **kw):
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as e:
        read_csv(path, ir, target, **kw)
    for d in e.value.diagnostics:
        assert d.file == str(path)
    return e.value.diagnostics


def one(tmp_path, text, ir=REG, target="t", **kw):
    [d] = errors(tmp_path, text, ir, target, **kw)
    return d


def test_reads_features_and_target_with_bom_quotes_and_crlf(tmp_path):
    text = '\ufeff"fixed acidity","b c",t,"d"\r\n1,2,3,4\r\n\r\n5,6,7.5,8\r\n'
    ds = read_csv(write(tmp_path, text), REG, "t")
    assert ds.features == ["fixed acidity", "b c", "d"]
    assert ds.X.dtype == np.float32 and ds.X.tolist() == [[1, 2, 4], [5, 6, 8]]
    assert ds.y.dtype == np.float32 and ds.y.tolist() == [3.0, 7.5]


def test_features_fill_the_input_shape_row_major(tmp_path):
    ds = read_csv(write(tmp_path, "a,b,t,c,d\n1,2,9,3,4\n"), IMG, "t")
    assert ds.X.shape == (1, 1, 2, 2)
    assert ds.X[0, 0].tolist() == [[1, 2], [3, 4]]


def test_real_red_wine_file():
    from conftest import DATA, SPECS

    ir = stackspec.load(SPECS / "red_wine.stack").ir
    ds = read_csv(DATA, ir, "quality")
    assert ds.X.shape == (1599, 11) and ds.y.shape == (1599,)
    assert ds.features[0] == "fixed acidity"


def test_crossentropy_targets_are_int64_labels(tmp_path):
    ds = read_csv(write(tmp_path, "a,b,t\n1,2,3\n1,2,0.0\n"), CLS, "t")
    assert ds.y.dtype == np.int64 and ds.y.tolist() == [3, 0]


@pytest.mark.parametrize(
    "cell, code, words",
    [
        ("", "E506", "empty cell"),
        ("  ", "E506", "empty cell"),
        ("abc", "E507", "not a number: 'abc'"),
        ("nan", "E508", "NaN"),
        ("-inf", "E508", "infinite"),
        ("1e39", "E508", "float32"),
    ],
)
def test_bad_cell_is_named_by_row_and_column(tmp_path, cell, code, words):
    d = one(tmp_path, f"a,b,t,c\n1,2,3,4\n1,{cell},3,4\n")
    assert (d.code, d.span.line, d.span.column) == (code, 3, 2)
    assert words in d.message and "row 3, column 2 ('b')" in d.message


def test_ragged_row(tmp_path):
    d = one(tmp_path, "a,b,t,c\n1,2,3,4\n1,2,3\n")
    assert (d.code, d.span.line) == ("E505", 3)
    assert "row 3 has 3 cells, the header has 4" in d.message


def test_every_bad_row_is_reported_in_one_run(tmp_path):
    diags = errors(tmp_path, "a,b,t,c\n1,,3,4\nx,2,3,4\n1,2,3\n1,2,3,inf\n")
    assert [(d.code, d.span.line, d.span.column) for d in diags] == [
        ("E506", 2, 2),
        ("E507", 3, 1),
        ("E505", 4, 4),
        ("E508", 5, 4),
    ]


def test_bad_target_cell_is_named_too(tmp_path):
    d = one(tmp_path, "a,b,t,c\n1,2,,4\n")
    assert (d.code, d.span.line, d.span.column) == ("E506", 2, 3)
    assert "('t')" in d.message


def test_missing_target_column_suggests_a_name(tmp_path):
    d = one(tmp_path, "a,b,quality,c\n1,2,3,4\n", target="qualty")
    assert d.code == "E504" and "did you mean 'quality'" in d.message
    assert "a, b, quality, c" in d.hint


def test_feature_count_mismatch_gives_both_numbers(tmp_path):
    d = one(tmp_path, "a,b,t\n1,2,3\n")
    assert d.code == "E509" and "2 feature columns" in d.message and "needs 3" in d.message
    d = one(tmp_path, "a,b,c,t\n1,2,3,4\n", target=None, need_target=False)
    assert d.code == "E509" and "--target" in d.hint


@pytest.mark.parametrize(
    "text, words", [("", "empty"), ("\n\n", "empty"), ("a,b,t,c\n", "no data rows")]
)
def test_empty_file_or_no_rows(tmp_path, text, words):
    d = one(tmp_path, text)
    assert d.code == "E502" and words in d.message


def test_duplicate_column_names(tmp_path):
    d = one(tmp_path, "a,b,a,t\n1,2,3,4\n")
    assert d.code == "E503" and "'a' (columns 1 and 3)" in d.message and d.span.column == 3


def test_unreadable_files(tmp_path):
    with pytest.raises(SpecError) as e:
        read_csv(tmp_path / "missing.csv", REG, "t")
    assert e.value.diagnostics[0].code == "E501"
    path = tmp_path / "latin.csv"
    path.write_bytes("a,b,t,c\n1,2,3,\xe9\n".encode("latin-1"))
    with pytest.raises(SpecError) as e:
        read_csv(path, REG, "t")
    assert e.value.diagnostics[0].code == "E501" and "UTF-8" in e.value.diagnostics[0].message


@pytest.mark.parametrize("label", ["4", "-1", "1.5"])
def test_crossentropy_labels_must_be_classes(tmp_path, label):
    d = one(tmp_path, f"a,b,t\n1,2,0\n1,2,{label}\n", ir=CLS)
    assert (d.code, d.span.line, d.span.column) == ("E510", 3, 3)
    assert "[0, 4)" in d.message


def test_bce_targets_in_unit_interval(tmp_path):
    d = one(tmp_path, "a,b,t\n1,2,1\n1,2,2\n", ir=BCE)
    assert (d.code, d.span.line) == ("E510", 3)


def test_one_target_column_needs_a_single_output(tmp_path):
    d = one(tmp_path, "a,b,t\n1,2,1\n", ir=WIDE)
    assert d.code == "E511" and "dense 1" in d.hint


def test_predict_ignores_a_present_target_and_accepts_an_absent_one(tmp_path):
    path = write(tmp_path, "a,b,t,c\n1,2,3,4\n")
    ds = read_csv(path, REG, "t", need_target=False)
    assert ds.y is None and ds.X.tolist() == [[1, 2, 4]]
    path = write(tmp_path, "a,b,c\n1,2,4\n", "e.csv")
    assert read_csv(path, REG, "t", need_target=False).X.tolist() == [[1, 2, 4]]


def test_split_is_seeded_disjoint_and_sized():
    tr, va = split(1599, 0.3, 0)
    assert len(va) == 480 and len(tr) == 1119
    assert not set(tr) & set(va) and sorted([*tr, *va]) == list(range(1599))
    tr2, va2 = split(1599, 0.3, 0)
    assert (va2 == va).all() and (tr2 == tr).all()
    assert not (split(1599, 0.3, 1)[1] == va).all()
    # its own stream: not the first draw of the batch order's generator
    assert not (np.sort(np.random.default_rng(0).permutation(1599)[:480]) == va).all()
    assert len(split(10, 0.0, 0)[1]) == 0
    assert len(split(3, 0.01, 0)[1]) == 1
    with pytest.raises(SpecError):
        split(1, 0.3, 0)


def test_as_arrays_checks_and_converts():
    X, y = as_arrays(IMG, np.arange(8).reshape(2, 4), [1, 2])
    assert X.shape == (2, 1, 2, 2) and y.dtype == np.float32 and y.shape == (2,)
    _, y = as_arrays(CLS, np.zeros((2, 2)), np.array([[1.0], [3.0]]))
    assert y.dtype == np.int64 and y.tolist() == [1, 3]
    _, y = as_arrays(REG, np.zeros((2, 3)), np.zeros((2, 1)))
    assert y.shape == (2,)
    bad = [
        (REG, np.zeros((2, 4)), None, "E509"),
        (REG, np.full((2, 3), np.nan), None, "E508"),
        (REG, np.zeros((2, 3)), np.zeros(3), "E505"),
        (CLS, np.zeros((2, 2)), [0, 4], "E510"),
        (CLS, np.zeros((2, 2)), [0, 0.5], "E510"),
        (WIDE, np.zeros((2, 2)), np.zeros(2), "E511"),
    ]
    for ir, X, y, code in bad:
        with pytest.raises(SpecError) as e:
            as_arrays(ir, X, y)
        assert e.value.diagnostics[0].code == code


@pytest.mark.parametrize(
    "text, line, column",
    [
        ('a,b,t,c\n1,2,3,4\n1,"2,3,4\n5,6,7,8\n9,9,9,9\n', 3, 2),
        ('a,b,t,c\n1,2,3,4\n1,2,3,"4', 3, 4),  # the last line, no line break at the end
        ('a,b,t,c\n1,2,3,4\r\n"1,2,3,4\r\n5,6,7,8\r\n', 3, 1),
        ('a,"b,t,c\n1,2,3,4\n', 1, 2),  # in the header
        ('a,b,t,c\n"x\ny",2,"3,4\n5,6,7,8\n', 3, 3),  # after a closed cell with a line break
        ('a,b,t,c\n1,"2""",3,4\n1,"2"",3,4\n', 3, 2),  # "" is a quote inside a quoted cell
    ],
)
def test_unterminated_quote_is_named_where_it_opens(tmp_path, text, line, column):
    d = one(tmp_path, text)
    assert (d.code, d.span.line, d.span.column) == ("E501", line, column)
    assert f"unterminated quote: the quoted cell at row {line}, column {column}" in d.message


def test_unterminated_quote_in_a_large_file_is_named_where_it_opens(tmp_path):
    # The cell grows past the csv module's size limit (131,072 characters) before the end.
    text = 'a,b,t,c\n1,2,3,4\n1,"2,3,4\n' + "5,6,7,8\n" * 20_000
    d = one(tmp_path, text)
    assert (d.code, d.span.line, d.span.column) == ("E501", 3, 2)


def test_a_closed_quoted_cell_with_a_line_break_is_no_open_quote(tmp_path):
    d = one(tmp_path, 'a,b,t,c\n1,2,3,4\n1,2,3,"4\n"\n')
    assert (d.code, d.span.line, d.span.column) == ("E507", 3, 4)
    assert "not a number: '4\\n'" in str(SpecError([d]))  # shown escaped


def test_rows_are_numbered_by_the_line_they_start_on(tmp_path):
    diags = errors(tmp_path, 'a,b,t,c\n"1\n",2,3,4\n1,2,3\n')
    assert [(d.code, d.span.line) for d in diags] == [("E507", 2), ("E505", 4)]
    diags = errors(tmp_path, 'a,b,t,c\n1,"2\n\n",3,x\n')
    assert [(d.code, d.span.line, d.span.column) for d in diags] == [("E507", 2, 2), ("E507", 2, 4)]


@pytest.mark.parametrize(
    "cell", ["５", "٥", "1_000", "0x10", "1e", "1e+", ".", "+", "-", "1 2", "\f1", "1\xa0", "--1"]
)
def test_numbers_are_ascii_decimal_literals(tmp_path, cell):
    d = one(tmp_path, f"a,b,t,c\n1,{cell},3,4\n")
    assert (d.code, d.span.line, d.span.column) == ("E507", 2, 2)


@pytest.mark.parametrize(
    "cell, value",
    [(" 1.5 ", 1.5), ("\t2\t", 2), ("1.", 1), ("+.5", 0.5), ("-.5e-3", -0.0005), ('"3"', 3)],
)
def test_number_spellings_accepted(tmp_path, cell, value):
    ds = read_csv(write(tmp_path, f"a,b,t,c\n1,{cell},3,4\n"), REG, "t")
    assert ds.X[0, 1] == np.float32(value)


@pytest.mark.parametrize("cell", ["NaN", "-nan", "Infinity", "+INF", " inf "])
def test_non_finite_words_are_e508(tmp_path, cell):
    assert one(tmp_path, f"a,b,t,c\n1,{cell},3,4\n").code == "E508"


def test_the_float32_limit_is_the_conversions(tmp_path):
    ds = read_csv(write(tmp_path, 'a,b,t,c\n1,"3.4028235e38",3,4\n'), REG, "t")
    assert ds.X[0, 1] == np.finfo(np.float32).max
    assert one(tmp_path, "a,b,t,c\n1,3.41e38,3,4\n").code == "E508"


def test_past_fifty_errors_the_last_says_how_many_more(tmp_path):
    text = "a,b,t,c\n" + "x,2,,4\n" * 60 + "1,2\n" * 5
    diags = errors(tmp_path, text)
    assert len(diags) == 50
    assert [d.code for d in diags[:2]] == ["E507", "E506"]
    assert diags[-1].message == "... and 76 more errors from here on, not shown"
    assert (diags[-1].span.line, diags[-1].span.column) == (26, 3)  # the next
    diags = errors(tmp_path, "a,b,t\n" + "1,2,9\n" * 70, ir=CLS)
    assert len(diags) == 50 and "... and 21 more" in diags[-1].message
    assert "... and 21 more" in str(SpecError(diags))


def test_split_names_the_data(tmp_path):
    with pytest.raises(SpecError) as e:
        split(1, 0.3, 0, "d.csv")
    [d] = e.value.diagnostics
    assert d.file == "d.csv" and "--valid-split 0" in d.hint


@pytest.mark.parametrize("bad", ["\x1b[2J", "\x00", "\r", "\u2028", "\x1b]0;title\x07"])
def test_cells_and_names_reach_the_terminal_escaped(tmp_path, bad):
    for text, target in [
        (f'a,b,t,c\n1,"x{bad}",3,4\n', "t"),  # a cell
        (f'a,"b{bad}x",t,c\n1,,3,4\n', "t"),  # a column name
        ("a,b,t,c\n1,2,3,4\n", f"t{bad}"),  # the target, and the did-you-mean
        (f'"a{bad}x",b,c,d\n1,2,3,4\n', f"a{bad}y"),  # the columns: hint
    ]:
        path = write(tmp_path, text)
        with pytest.raises(SpecError) as e:
            read_csv(path, REG, target)
        shown = str(e.value)
        assert all(c.isprintable() or c == "\n" for c in shown), repr(shown)
        assert repr(bad)[1:-1] in shown
