"""The grammar and the syntax tree (LANGUAGE.md §2-§3): lexical rules, statements, spans, and
the pre-generated LALR tables."""

from __future__ import annotations

from pathlib import Path

import pytest
from lark import Lark

from stackspec.diagnostics import Diagnostics, Span
from stackspec.grammar import _tables
from stackspec.grammar import syntax as s
from stackspec.grammar.parser import GRAMMAR, OPTIONS, get_parser, parse_program

ROOT = Path(__file__).resolve().parent.parent


def parse(text: str) -> s.Program:
    diags = Diagnostics()
    program = parse_program(text, diags)
    assert not diags.items, diags.items
    return program


def only(text: str):
    (stmt,) = parse(text).stmts
    return stmt


def codes(text: str) -> list[str]:
    diags = Diagnostics()
    parse_program(text, diags)
    return [d.code for d in diags.items]


# --- the tables ----------------------------------------------------------------------------


def test_tables_are_current():
    """`python -m stackspec.grammar.parser` regenerates _tables.py after a grammar change."""
    assert Path(GRAMMAR).read_text(encoding="utf-8") == _tables.GRAMMAR


def test_stored_tables_parse_like_a_fresh_parser():
    fresh = Lark(Path(GRAMMAR).read_text(encoding="utf-8"), **OPTIONS)
    for spec in sorted((ROOT / "specs").glob("*.stack")):
        text = spec.read_text()
        assert get_parser().parse(text) == fresh.parse(text), spec.name


def test_stored_regexes_are_current():
    """The lexer's expressions stored with the tables are the ones its states compile, with the
    code `re` would generate for them (on the Python version that wrote them)."""
    import marshal
    import sys

    from stackspec.grammar import regexes

    tables = marshal.loads(_tables.TABLES)
    if tables["regexes"]["python"] != list(sys.version_info[:2]):
        pytest.skip("the stored expressions are for another Python version")
    loaded = Lark._load_from_dict(tables["data"], tables["memo"])
    assert regexes.compiled(loaded) == tables["regexes"]


def test_parser_options():
    options = get_parser().options
    assert (options.parser, options.lexer) == ("lalr", "contextual")


# --- lexical rules -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("512", 512),
        ("-3", -3),
        ("0.3", 0.3),
        ("1e-3", 1e-3),
        ("1E3", 1e3),
        (".5", 0.5),
        ("-.5", -0.5),
        ("3.", 3.0),
        ("-2.5e+2", -250.0),
    ],
)
def test_numbers(text, value):
    v = only(f"dropout {text}").args[0]
    assert (v.kind, v.value, v.text) == ("number", value, text)
    assert type(v.value) is type(value)


@pytest.mark.parametrize(
    ("text", "dims"), [("3x3", (3, 3)), ("1x28x28", (1, 28, 28)), ("2x1", (2, 1))]
)
def test_shapes(text, dims):
    v = only(f"input {text}").shape
    assert (v.kind, v.value) == ("shape", dims)


@pytest.mark.parametrize(
    ("text", "code"),
    [("3 x 3", "E100"), ("3x", "E106"), ("1.2.3", "E106"), ("3xa", "E106"), ("1e", "E106")],
)
def test_malformed_literals(text, code):
    assert codes(f"input {text}\n") == [code]


def test_strings_and_escapes():
    v = only(r'dense 4 init="a \"b\" c\\d"').kwargs[0].value
    assert (v.kind, v.value) == ("string", 'a "b" c\\d')
    assert codes('dense "unterminated\n') == ["E107"]


def test_booleans():
    c = only("dense 4 bias=false")
    assert (c.kwargs[0].value.kind, c.kwargs[0].value.value) == ("bool", False)
    assert only("shuffle true").args[0].value is True


def test_identifiers_that_start_with_keywords_are_names():
    program = parse("inputs 3\nletter\ntrainer x=true_\nrepeated | residuals | falsey\n")
    assert [st.name for st in program.stmts] == [
        "inputs",
        "letter",
        "trainer",
        "repeated",
        "residuals",
        "falsey",
    ]
    assert program.stmts[2].kwargs[0].value.kind == "name"


@pytest.mark.parametrize(
    "text",
    [
        "let input = 3",
        "let true = 3",
        "block train() {}",
        "block b(repeat) {}",
        "dense 4 activation=input",
        "dense 4 input=3",
        "true",
    ],
)
def test_keywords_are_reserved_everywhere(text):
    # The contextual lexer reads `input` as a name where no keyword may stand; the builder
    # rejects it, so a keyword never silently becomes a constant, block or symbol.
    assert codes(text + "\n") == ["E109"]


def test_a_keyword_where_a_statement_starts():
    assert codes("let w = 3\nlet 4\n") == ["E100"]


def test_comments_and_blank_lines():
    text = '# head\n\ninput 11  # trailing\n\n\n# own line\ndense 4 init="#not" # real\n'
    program = parse(text)
    assert [type(st).__name__ for st in program.stmts] == ["Input", "Call"]
    assert program.comments == (
        s.Comment("# head", 1, 1),
        s.Comment("# trailing", 3, 11),
        s.Comment("# own line", 6, 1),
        s.Comment("# real", 7, 21),
    )


def test_separators_and_continuation():
    a = parse("input 3\ndense 4 relu | dropout 0.3 | batchnorm\n")
    b = parse("input 3\ndense 4 relu |\n  dropout 0.3 |\n\n  # comment\n  batchnorm\n")
    names = [[getattr(st, "name", "input") for st in p.stmts] for p in (a, b)]
    assert names[0] == names[1] == ["input", "dense", "dropout", "batchnorm"]


def test_crlf_and_tabs():
    program = parse("input 11\r\n\tdense 4 relu\r\n\r\ndense 1\r\n")
    assert [st.span.line for st in program.stmts] == [1, 2, 4]
    assert program.stmts[1].span == Span(2, 2, 2, 7)


def test_no_trailing_newline_and_empty_files():
    assert len(parse("input 3\ndense 2").stmts) == 2
    assert parse("").stmts == ()
    assert parse("\n\n# only comments\n").stmts == ()


# --- statements and their spans ---------------------------------------------------------------


def test_call_spans():
    c = only("  dense 64 relu bias=false")
    assert (c.name, c.span, c.end) == ("dense", Span(1, 3, 1, 8), Span(1, 3, 1, 27))
    assert [v.span for v in c.args] == [Span(1, 9, 1, 11), Span(1, 12, 1, 16)]
    (kw,) = c.kwargs
    assert (kw.name, kw.span, kw.value.span) == ("bias", Span(1, 17, 1, 21), Span(1, 22, 1, 27))


def test_input_let_and_block():
    program = parse("let w = 4\ninput 1x8x8\nblock b(units, rate=0.3) {\n  dense units\n}\n")
    let, inp, block = program.stmts
    assert (let.name, let.value.value, let.span) == ("w", 4, Span(1, 5, 1, 6))
    assert (inp.shape.value, inp.span) == ((1, 8, 8), Span(2, 1, 2, 12))
    assert block.name == "b" and block.span == Span(3, 7, 3, 8)
    assert [(p.name, p.default and p.default.value) for p in block.params] == [
        ("units", None),
        ("rate", 0.3),
    ]
    assert (block.body.open, block.body.close) == (Span(3, 26, 3, 27), Span(5, 1, 5, 2))
    assert s.last_line(block) == 5


def test_block_without_parameters():
    block = only("block b() {\n  relu\n}")
    assert block.params == ()


def test_repeat_residual_train():
    program = parse("repeat 2 { relu }\nresidual {\n  dense 3\n}\ntrain { loss mae | epochs 3 }\n")
    rep, res, train = program.stmts
    assert (rep.count.value, rep.span) == (2, Span(1, 1, 1, 7))
    assert [c.name for c in rep.body.stmts] == ["relu"]
    assert res.span == Span(2, 1, 2, 9) and s.last_line(res) == 4
    assert [c.name for c in train.body.stmts] == ["loss", "epochs"]
    assert train.span == Span(5, 1, 5, 6)


def test_empty_bodies():
    rep = only("repeat 2 {}")
    assert rep.body.stmts == ()
    assert only("residual {\n\n}").body.stmts == ()


def test_nested_bodies():
    program = parse("repeat 2 {\n  residual {\n    repeat 3 { dense 4 | relu }\n  }\n}\n")
    inner = program.stmts[0].body.stmts[0].body.stmts[0]
    assert isinstance(inner, s.Repeat) and len(inner.body.stmts) == 2


def test_keyword_arguments_and_positionals_in_any_order_parse():
    # The order rule is checked after parsing (E209), never by the grammar.
    c = only("dense units=4 relu")
    assert [v.text for v in c.args] == ["relu"] and [k.name for k in c.kwargs] == ["units"]


def test_tree_is_frozen():
    c = only("dense 4")
    with pytest.raises(AttributeError):
        c.name = "x"


# --- limits before anything recursive -------------------------------------------------------


def test_deep_nesting_is_a_clean_error():
    text = "input 3\n" + "repeat 1 {" * 1000 + "relu" + "}" * 1000
    assert codes(text) == ["E403"]


def test_huge_numbers_are_a_clean_error():
    # int() of more than 4300 digits raises ValueError; the parser stops at 64 characters.
    assert codes("dense " + "9" * 5000) == ["E405"]
    assert codes("input " + "9" * 70 + "x3") == ["E405"]
    assert codes("dropout 1e400") == ["E405"]


def test_file_size_limit_in_characters_and_bytes():
    assert codes("#" + "é" * (1 << 19)) == ["E404"]  # 1 MiB of UTF-8, half as many characters
    assert codes("#" + "x" * ((1 << 20) - 10)) == []


def test_nesting_at_the_limit_is_fine():
    text = "input 3\n" + "residual {\n" * 64 + "relu\n" + "}\n" * 64
    assert len(parse(text).stmts) == 2


# --- the reference's examples ----------------------------------------------------------------


def _spec_examples() -> list[str]:
    """The untagged code blocks of docs/language.md: each is a spec or a fragment of one
    (tagged blocks hold shell commands, JSON or program output)."""
    blocks, lines, tag = [], None, ""
    for line in (ROOT / "docs" / "language.md").read_text().splitlines(keepends=True):
        if line.startswith("```"):
            if lines is None:
                lines, tag = [], line[3:].strip()
            else:
                if not tag:
                    blocks.append("".join(lines))
                lines = None
        elif lines is not None:
            lines.append(line)
    return blocks


@pytest.mark.parametrize("example", _spec_examples())
def test_docs_examples_parse(example):
    from stackspec.compiler.pipeline import compile_source

    assert codes(example) == []
    if "input " in example:  # a whole spec: it must also be valid
        result = compile_source(example)
        assert not result.diags.has_errors, result.diags.sorted()


def test_joins_and_branches():
    program = parse("concat {\n  branch { dense 3 }\n  branch {}\n}\nadd { branch { relu } }\n")
    concat, add = program.stmts
    assert (type(concat).__name__, concat.op, concat.span.line, concat.span.column) == (
        "Join",
        "concat",
        1,
        1,
    )
    first, second = concat.body.stmts
    assert (first.span.line, first.span.column, first.body.stmts[0].name) == (2, 3, "dense")
    assert second.body.stmts == ()
    assert (add.op, add.body.stmts[0].body.stmts[0].name) == ("add", "relu")
    # Only where a statement starts: elsewhere these are ordinary names.
    assert parse("let add = 3\ninput add\n").stmts[0].name == "add"
