"""`stackspec fmt` (LANGUAGE.md §9): canonical layout, idempotent, comments kept, IR unchanged.

tests/fixtures/fmt/identity_*.stack are canonical: fmt leaves them unchanged (as it leaves
specs/*.stack). NAME.before.stack formats to NAME.after.stack.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import every_layer_specs

import stackspec
from stackspec.compiler.fmt import format_source
from stackspec.grammar.parser import _comments

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures" / "fmt"
IDENTITY = sorted(FIXTURES.glob("identity_*.stack")) + sorted((ROOT / "specs").glob("*.stack"))
PAIRS = sorted(FIXTURES.glob("*.before.stack"))


def read(path: Path) -> str:
    return path.read_bytes().decode("utf-8")  # keep \r\n as written


def meaning(text: str) -> tuple:
    """What fmt must keep: the model (hash), every node without positions, the train settings."""
    ir = stackspec.parse(text).ir
    nodes = [{k: v for k, v in n.to_json().items() if k != "source"} for n in ir.walk()]
    for n in nodes:
        n.pop("body", None)
        n.pop("branches", None)
    return ir.model_hash(), nodes, ir.train


@pytest.mark.parametrize("path", IDENTITY, ids=lambda p: p.name)
def test_identity(path):
    text = read(path)
    assert format_source(text) == text


@pytest.mark.parametrize("before", PAIRS, ids=lambda p: p.name)
def test_before_after(before):
    after = before.with_name(before.name.replace(".before.", ".after."))
    expected = read(after)
    assert format_source(read(before)) == expected
    assert format_source(expected) == expected


@pytest.mark.parametrize("path", IDENTITY + PAIRS, ids=lambda p: p.name)
def test_meaning_and_comments_are_kept(path):
    text = read(path)
    formatted = format_source(text)
    assert meaning(formatted) == meaning(text)
    assert [c.text.strip() for c in _comments(formatted)] == [
        c.text.strip() for c in _comments(text)
    ]


def test_every_layer_is_kept_by_fmt():
    for text in every_layer_specs().values():
        formatted = format_source(text.lstrip("\n"))
        assert meaning(formatted) == meaning(text), text
        assert format_source(formatted) == formatted, text


def test_literals_are_printed_as_written():
    text = "input 1x8x8\nconv2d 4 kernel=3x3\nflatten\ndropout .5 | dropout 1e-3 | dropout 0.50\n"
    assert format_source(text) == text


def test_semantic_errors_do_not_stop_fmt():
    # fmt needs only the syntax: a misspelled layer is `check`'s business.
    text = "input 11\ndense1  4\n"
    assert format_source(text) == "input 11\ndense1 4\n"


def test_syntax_errors_raise_spec_error():
    with pytest.raises(stackspec.SpecError) as e:
        format_source("input 11\ndense 4 |\n", "f.stack")
    assert [d.code for d in e.value.diagnostics] == ["E103"]


def test_set_names_are_checked_but_not_applied():
    text = "let w = 4\ninput 3\ndense w\n"
    assert format_source(text, overrides={"w": "8"}) == text
    with pytest.raises(stackspec.SpecError) as e:
        format_source(text, overrides={"v": "8"})
    assert [d.code for d in e.value.diagnostics] == ["E213"]


def test_empty_and_comment_only_files():
    assert format_source("") == ""
    assert format_source("\n\n") == ""
    assert format_source("# just a note\n\n\n") == "# just a note\n"


def test_one_line_groups_stay_one_line_and_lines_stay_lines():
    one = "input 3\ndense 4 relu | dropout 0.3 | batchnorm\n"
    many = "input 3\ndense 4 relu\ndropout 0.3\nbatchnorm\n"
    assert format_source(one) == one
    assert format_source(many) == many
    assert meaning(one) == meaning(many)


def test_block_headers():
    assert format_source("block  b( ) { relu }\ninput 3\nb\n") == (
        "block b() {\n  relu\n}\ninput 3\nb\n"
    )
    assert format_source("block b(x,y = 2){\n  dense x\n}\n") == (
        "block b(x, y=2) {\n  dense x\n}\n"
    )


def test_arguments_keep_their_written_order():
    # A positional argument after a keyword one is E209; formatting must not repair or hide it.
    assert format_source("input 3\ndense units=2 relu\n") == "input 3\ndense units=2 relu\n"
