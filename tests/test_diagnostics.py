"""Diagnostics (LANGUAGE.md §7): every category with its code, line and column; rendering;
golden files for the rendered output of bad specs.

Golden files: tests/golden/NAME.stack is a spec, tests/golden/NAME.txt what `stackspec check
NAME.stack` prints (run from tests/golden). After an intended change of the messages,
regenerate them with `STACKSPEC_UPDATE_GOLDEN=1 python -m pytest tests/test_diagnostics.py`
and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

import stackspec
from stackspec.cli import main
from stackspec.compiler.pipeline import compile_source
from stackspec.diagnostics import (
    MAX_REPORTED,
    Diagnostic,
    Diagnostics,
    Span,
    SpecError,
    did_you_mean,
    render,
    render_all,
    to_json,
)

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("STACKSPEC_UPDATE_GOLDEN") == "1"


def found(text: str, overrides=None) -> list[tuple[str, int, int]]:
    result = compile_source(text, "x.stack", overrides)
    return [(d.code, d.span.line, d.span.column) for d in result.diags.sorted()]


# One spec per diagnostic code: (spec, expected (code, line, column) in source order).
CATEGORIES = {
    # syntax
    "E100": ("input 11\nlet w 3\n", [("E100", 2, 7)]),
    "E100 leading pipe": ("input 11\ndense 3\n| dense 4\n", [("E100", 3, 1)]),
    "E101": ("input 11\ndense 4 @\n", [("E101", 2, 9)]),
    "E101 non-ascii name": ("input 11\ndénse 4\n", [("E101", 2, 2)]),
    "E102": ("input 11\nrepeat 2 {\n  dense 4\n", [("E102", 3, 10)]),
    "E103 at end": ("input 11\ndense 4 |\n", [("E103", 2, 9)]),
    "E103 before brace": ("input 11\nrepeat 2 { dense 4 | }\n", [("E103", 2, 20)]),
    "E103 double": ("input 11\ndense 4 | | dense 3\n", [("E103", 2, 9)]),
    "E104": ("input", [("E104", 1, 6)]),
    "E104 let": ("let w =", [("E104", 1, 8)]),
    "E105": ("input 11\nrate=0.3\n", [("E105", 2, 1)]),
    "E106": ("input 11\ndense 4x\n", [("E106", 2, 7)]),
    "E106 dots": ("input 11\ndropout 1.2.3\n", [("E106", 2, 9)]),
    "E107": ('input 11\ndense 4 "relu\n', [("E107", 2, 9)]),
    "E108": ("input 11\ndense 4\n}\n", [("E108", 3, 1)]),
    # names and arguments
    "E201": ("input 11\ndense1 4\n", [("E201", 2, 1)]),
    "E202": ("input 11\ndense 4 units2=3\n", [("E202", 2, 9)]),
    "E203": ("input 11\ndense 4 rellu\n", [("E203", 2, 9)]),
    "E204": ("input 11\ndense 4.5\n", [("E204", 2, 7)]),
    "E205": ("input 11\ndropout 1.5\n", [("E205", 2, 9)]),
    "E206": ("input 11\ndropout\n", [("E206", 2, 1)]),
    "E207": ("input 11\ndense 4 units=5\n", [("E207", 2, 9)]),
    "E207 train": ("input 11\ndense 1\ntrain {\n  epochs 2\n  epochs 3\n}\n", [("E207", 5, 3)]),
    "E208": (
        "input 11\nblock a(n) {\n  b n\n}\nblock b(n) {\n  a n\n}\na 3\n",
        [("E208", 6, 3)],
    ),
    "E208 self": ("input 11\nblock a(n) {\n  a n\n}\na 3\n", [("E208", 3, 3)]),
    "E208 let": ("let a = b\nlet b = a\ninput 11\ndense a\n", [("E208", 2, 9)]),
    "E209": ("input 11\ndense 4 relu 5\n", [("E209", 2, 14)]),
    "E209 order": ("input 11\ndense units=4 relu\n", [("E209", 2, 15)]),
    "E210": ("let w = 3\nlet w = 4\ninput 11\ndense w\n", [("E210", 2, 5)]),
    "E211": ("block dense(n) {\n  relu\n}\ninput 11\n", [("E211", 1, 7)]),
    "E212": ("input 11\ndense 1\ntrain {\n  epoch 3\n}\n", [("E212", 4, 3)]),
    "E214 input twice": ("input 11\ndense 3\ninput 3\n", [("E214", 3, 1)]),
    "E214 input late": ("dense 3\ninput 11\n", [("E214", 2, 1)]),
    "E214 nested let": ("input 11\nrepeat 2 {\n  let w = 3\n}\n", [("E214", 3, 7)]),
    "E214 two trains": ("input 11\ndense 1\ntrain {}\ntrain {}\n", [("E214", 4, 1)]),
    # shapes
    "E301": ("input 1x8x8\ndense 3\n", [("E301", 2, 1)]),
    "E301 input dims": ("input 1x2x3x4\ndense 3\n", [("E301", 1, 7)]),
    "E301 2-d input to an image layer": ("input 28x28\nconv2d 4\n", [("E301", 2, 1)]),
    "E301 input 4-d": ("input 2x3x4x5\nflatten\n", [("E301", 1, 7)]),
    "E204 input": ("input relu\ndense 3\n", [("E204", 1, 7)]),
    "E302": ("dense 3\n", [("E302", 1, 1)]),
    "E302 empty": ("# nothing\n", [("E302", 1, 1)]),
    "E303": ("input 11\nresidual {\n  dense 4\n}\n", [("E303", 2, 1)]),
    "E304": ("input 1x4x4\nconv2d 3 kernel=5\n", [("E304", 2, 17)]),
    "E304 input": ("input 0\ndense 3\n", [("E304", 1, 7)]),
    "E305": ("input 1x8x8\nconv2d 3 padding=same stride=2\n", [("E305", 2, 18)]),
    # limits
    "E401": ("input 100000\ndense 100000\ndense 100000\n", [("E401", 2, 1)]),
    "E402": ("input 11\nrepeat 10001 {\n  relu\n}\n", [("E402", 3, 3)]),
    "E403": ("input 11\n" + "repeat 1 {\n" * 65 + "relu\n" + "}\n" * 65, [("E403", 66, 10)]),
    "E404": ("input 11\n# " + "x" * (1 << 20) + "\n", [("E404", 1, 1)]),
    "E405": ("input 11\ndense " + "9" * 5000 + "\n", [("E405", 2, 7)]),
    "E405 float": ("input 11\ndropout 1e999\n", [("E405", 2, 9)]),
    # warnings
    "W201": ("let w = 3\ninput 11\ndense 4\n", [("W201", 1, 5)]),
    "W202": ("block b() {\n  relu\n}\ninput 11\ndense 4\n", [("W202", 1, 7)]),
    "W203": ("input 11\n", [("W203", 1, 7)]),
    "W204": ("input 11\nresidual {}\n", [("W204", 2, 1)]),
    # joins: branch outputs that do not fit, at the join's keyword; misplaced statements
    "E303 concat": (
        "input 3x8x8\nconcat {\n  branch { conv2d 4 kernel=1 }\n  branch { maxpool2d 2 }\n}\n",
        [("E303", 2, 1)],
    ),
    "E303 add": (
        "input 6\ndense 4\nadd {\n  branch { dense 4 }\n  branch { dense 5 }\n}\n",
        [("E303", 3, 1)],
    ),
    "E214 join": ("input 6\nadd {\n  branch { dense 4 }\n  dense 4\n}\n", [("E214", 4, 3)]),
    "E214 one branch": ("input 6\nconcat {\n  branch { dense 4 }\n}\n", [("E214", 2, 1)]),
    "E214 branch": ("input 6\nbranch { dense 4 }\n", [("E214", 2, 1)]),
    "E201 in branch": (
        "input 6\nconcat {\n  branch { dense 4 }\n  branch { dens 4 }\n}\n",
        [("E201", 4, 12)],
    ),
    # a final sigmoid with bce (softmax with crossentropy) is fused with the loss (§6), no warning
    "W301": ("input 11\ndense 3\nsigmoid\ntrain {\n  loss crossentropy\n}\n", [("W301", 3, 1)]),
    "W301 softmax": ("input 11\ndense 2 softmax\ntrain {\n  loss bce\n}\n", [("W301", 2, 1)]),
    "fused sigmoid": ("input 11\ndense 1\nsigmoid\ntrain {\n  loss bce\n}\n", []),
    "fused softmax": ("input 11\ndense 3 softmax\ntrain {\n  loss crossentropy\n}\n", []),
    "W302": ("input 11\ndense 1\ntrain {\n  loss crossentropy\n}\n", [("W302", 2, 1)]),
}


@pytest.mark.parametrize("name", CATEGORIES)
def test_category(name):
    text, expected = CATEGORIES[name]
    assert found(text) == expected


def test_every_code_of_the_front_end_is_covered():
    codes = {code for _, expected in CATEGORIES.values() for code, *_ in expected}
    assert codes >= {f"E10{i}" for i in range(9)}
    assert codes >= {f"E2{i:02}" for i in range(1, 15)} - {"E213"}  # E213: --set, below
    assert codes >= {"E301", "E302", "E303", "E304", "E305", "E401", "E402", "E403", "E404"}


def test_a_join_mismatch_names_each_branch_and_its_line():
    text = "input 3x8x8\nconcat {\n  branch { conv2d 4 kernel=1 }\n  branch { maxpool2d 2 }\n}\n"
    (d,) = compile_source(text, "x").diags.items
    assert d.message == (
        "concat: branch outputs do not fit: branch 1 (line 3) gives (4x8x8), "
        "branch 2 (line 4) gives (3x4x4)"
    )
    text = (
        "input 6\nblock two(n) {\n  add {\n    branch { dense n }\n    branch { }\n  }\n}\ntwo 3\n"
    )
    (d,) = compile_source(text, "x").diags.items
    assert (d.code, d.span.line, d.span.column) == ("E303", 3, 3)
    assert d.message.endswith("branch 2 (line 5) gives (6) (in block 'two' called at line 8)")


def test_unknown_set_name():
    (d,) = compile_source("let width = 3\ninput 11\ndense width\n", "x", {"widht": "4"}).diags.items
    assert (d.code, d.span.line) == ("E213", 0)
    assert "did you mean 'width'" in d.message


def test_unreadable_files(tmp_path):
    with pytest.raises(SpecError) as e:
        stackspec.load(tmp_path / "missing.stack")
    assert e.value.diagnostics[0].code == "E001"
    bad = tmp_path / "latin1.stack"
    bad.write_bytes(b"input 11\n# caf\xe9\n")
    with pytest.raises(SpecError) as e:
        stackspec.load(bad)
    assert e.value.diagnostics[0].code == "E101"
    big = tmp_path / "big.stack"
    big.write_text("input 11\n" + "#" * (1 << 20))
    with pytest.raises(SpecError) as e:
        stackspec.load(big)
    assert e.value.diagnostics[0].code == "E404"


def test_byte_order_mark_is_ignored(tmp_path):
    p = tmp_path / "bom.stack"
    p.write_bytes(b"\xef\xbb\xbfinput 3\ndense 2\n")
    assert stackspec.load(p).ir.output_shape == (2,)


# --- several errors in one run -----------------------------------------------------------------


def test_every_error_of_a_file_in_one_run():
    text = (
        "input 11\n"
        "dense1 4\n"  # E201
        "dense 4 rellu\n"  # E203
        "dropout 2\n"  # E205
        "train {\n  epoch 3\n  loss maee\n}\n"  # E212, E203
    )
    assert found(text) == [
        ("E201", 2, 1),
        ("E203", 3, 9),
        ("E205", 4, 9),
        ("E212", 6, 3),
        ("E203", 7, 8),
    ]


def test_several_syntax_errors_in_one_run():
    text = "input 11\ndense 4 @\nlet w 3\ndense 4\ndropout 0.3;\n"
    assert found(text) == [("E101", 2, 9), ("E100", 3, 7), ("E101", 5, 12)]


def test_recovery_stops_at_a_line_with_braces():
    # Blanking `repeat 2 {` would unbalance the braces; only the first error is certain.
    text = "input 11\nrepeat 2 { dense @\n}\ndense 4 @\n"
    assert found(text) == [("E101", 2, 18)]


def test_syntax_errors_are_capped():
    from stackspec.grammar.parser import MAX_SYNTAX_ERRORS

    text = "input 11\n" + "dense 4 @\n" * (MAX_SYNTAX_ERRORS + 10)
    assert len(found(text)) == MAX_SYNTAX_ERRORS


def test_continued_statement_is_blanked_whole():
    # The error is on the second line of a `|` continuation: no invented dangling `|`.
    text = "input 11\ndense 4 |\n  dropout @\ndense 3 |\n"
    assert found(text) == [("E101", 3, 11), ("E103", 4, 9)]


def test_no_cascade_after_a_bad_layer():
    text = "input 1x8x8\nconv2d 4 padding=same stride=2\nflatten\ndense 3\n"
    assert found(text) == [("E305", 2, 18)]
    text = "input 1x8x8\nconv2d 4 | flaten | dense 3\n"
    assert found(text) == [("E201", 2, 12)]
    assert found("input 11\ndense " + "9" * 100 + "\ndense 3\n") == [("E405", 2, 7)]


def test_block_errors_point_at_the_call_and_name_it():
    text = "input 11\nblock h(u) {\n  dense u\n  dropout 2\n}\nh -5\nh 4\n"
    result = compile_source(text)
    errors = result.diags.sorted()
    assert [(d.code, d.span.line, d.span.column) for d in errors] == [
        ("E205", 4, 11),
        ("E304", 6, 3),
    ]
    assert errors[0].message.endswith("(in block 'h' called at line 6)")


def test_a_repeated_mistake_is_reported_once():
    text = (
        "input 11\nrepeat 3 {\n  dense 4 bogus=1\n}\n"
        "repeat 2 {\n  dense 4\n  residual {\n    dense 5\n  }\n}\n"
    )
    assert found(text) == [("E202", 3, 11)]


# --- did you mean --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "candidates", "expected"),
    [
        ("dense1", ["dense", "dropout"], "; did you mean 'dense'?"),
        ("rellu", ["relu", "elu", "selu"], "; did you mean 'relu'?"),
        ("xyz", ["dense", "dropout"], ""),
        ("anything", [], ""),
    ],
)
def test_did_you_mean(name, candidates, expected):
    assert did_you_mean(name, candidates) == expected


def test_did_you_mean_offers_blocks_constants_and_settings():
    text = "let width = 4\nblock hidden(n) {\n  dense n\n}\ninput 11\nhiden width\ndense widht\n"
    messages = [d.message for d in compile_source(text).diags.sorted() if d.severity == "error"]
    assert "did you mean 'hidden'" in messages[0]
    assert "did you mean 'width'" in messages[1]


# --- rendering ---------------------------------------------------------------------------------


def test_render_caret_under_the_whole_span():
    d = Diagnostic("error", "E201", "unknown layer 'dense1'", Span(4, 3, 4, 9), file="b.stack")
    text = render(d, ["", "", "", "  dense1 512 relu"])
    assert text == (
        "b.stack:4:3: error[E201]: unknown layer 'dense1'\n  4 |   dense1 512 relu\n    |   ^^^^^^"
    )


def test_render_hint_and_no_position():
    d = Diagnostic("warning", "W201", "constant 'w' is never used", hint="remove it", file="f")
    assert render(d) == "f: warning[W201]: constant 'w' is never used\n  = hint: remove it"


def test_render_multiline_span_marks_to_end_of_line():
    d = Diagnostic("error", "E303", "m", Span(1, 1, 3, 2), file="f")
    assert render(d, ["residual {", "", "}"]).splitlines()[-1] == "    | " + "^" * 10


def test_render_long_line_keeps_a_window_around_the_caret():
    line = "dense " + "9" * 5000
    d = Diagnostic("error", "E405", "m", Span(1, 4000, 1, 4003), file="f")
    _, shown, caret = render(d, [line]).splitlines()
    assert len(shown) < 120
    assert shown.index("|") + 1 + caret.index("^") - caret.index("|") <= len(shown)
    assert caret.strip().strip("|").strip() == "^^^"


def test_render_all_caps_and_counts_the_rest():
    diags = [Diagnostic("error", "E201", f"m{i}", Span(i + 1, 1, i + 1, 2)) for i in range(60)]
    text = render_all(diags)
    assert text.count("error[E201]") == MAX_REPORTED
    assert text.endswith(f"... and {60 - MAX_REPORTED} more")


def test_json_fields():
    d = Diagnostic("error", "E201", "unknown layer", Span(4, 3, 4, 9), "a hint", "b.stack")
    (obj,) = json.loads(to_json([d]))
    assert obj == {
        "file": "b.stack",
        "line": 4,
        "column": 3,
        "end_line": 4,
        "end_column": 9,
        "severity": "error",
        "code": "E201",
        "message": "unknown layer",
        "hint": "a hint",
    }


def test_spec_error_carries_the_diagnostics():
    with pytest.raises(SpecError) as e:
        stackspec.parse("input 11\ndense1 4\ndropout 2\n", file="m.stack")
    err = e.value
    assert [d.code for d in err.diagnostics] == ["E201", "E205"]
    assert [d.code for d in err.errors] == ["E201", "E205"]
    assert str(err).startswith("m.stack:2:1: error[E201]: unknown layer 'dense1'")
    assert err.__cause__ is None
    assert isinstance(err, stackspec.SpecError)


def test_warnings_do_not_raise():
    spec = stackspec.parse("let w = 3\ninput 11\ndense 4\n")
    assert [d.code for d in spec.warnings] == ["W201"]


def test_duplicates_are_dropped_in_sorted_output():
    diags = Diagnostics("f")
    for _ in range(3):
        diags.error("E201", "m", Span(1, 1, 1, 2))
    assert len(diags.sorted()) == 1


# --- golden files ------------------------------------------------------------------------------

GOLDEN_SPECS = sorted(p.name for p in GOLDEN.glob("*.stack"))


@pytest.mark.parametrize("name", GOLDEN_SPECS)
def test_golden(name, monkeypatch):
    monkeypatch.chdir(GOLDEN)
    result = CliRunner().invoke(main, ["check", name])
    output = result.stderr
    expected_file = GOLDEN / name.replace(".stack", ".txt")
    if UPDATE:
        expected_file.write_text(output)
    assert expected_file.exists(), f"run STACKSPEC_UPDATE_GOLDEN=1 to create {expected_file.name}"
    assert output == expected_file.read_text()
    assert result.exit_code == (1 if "error[" in output else 0)


def test_golden_files_have_specs():
    for txt in GOLDEN.glob("*.txt"):
        assert txt.with_suffix(".stack").exists(), f"{txt.name} has no spec"
