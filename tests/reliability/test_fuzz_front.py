"""Fuzzing the front end (issue 7): spec text and bytes through the compiler and `fmt`.

Whatever the text, compile_source reports diagnostics and stackspec.parse raises SpecError,
never another exception (no RecursionError, no IndexError from a caret at a strange place);
`fmt` either refuses with SpecError or returns text that it leaves unchanged (idempotent) and
that compiles to the same diagnostics codes.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import stackspec
from stackspec.compiler.fmt import format_source
from stackspec.compiler.pipeline import compile_source
from stackspec.diagnostics import SpecError, render_all
from stackspec.layers import LAYERS
from stackspec.limits import DEPTH_CEILING, Limits

from .catalogue import FUZZ_EXAMPLES

WORDS = [
    "input", "let", "block", "repeat", "residual", "train", "true", "false",
    "dense", "conv2d", "flatten", "dropout", "batchnorm", "layernorm", "relu", "softmax",
    "maxpool2d", "avgpool2d", "globalavgpool", "linear", "gelu", "elu", "leaky_relu",
    "epochs", "batch", "loss", "optimizer", "lr", "seed", "mse", "bce", "adam", "sgd",
    "units", "rate", "kernel", "stride", "padding", "same", "valid", "activation", "a", "b",
    "x", "width", "_", "concat", "add", "branch", "data", "schedule", "clip", "checkpoint",
    "choice", "uniform", "loguniform", "int",
]  # fmt: skip
# Every layer of the registry too, so a new layer is fuzzed as soon as it exists.
WORDS += sorted(set(LAYERS) - set(WORDS))
NUMBERS = ["0", "1", "3", "-1", "0.5", ".5", "1e-3", "1e999", "3x3", "1x28x28", "2x", "1_0"]
NUMBERS.append("9" * 80)
PUNCTUATION = ["{", "}", "|", "=", "(", ")", ",", "\n", "\n", " ", "  ", "\t", "#", "\\", ";", "@"]
STRINGS = ['"a"', '"\\n\\t\\""', '"\\', '"unterminated', '"\x1b[2J"', '"\\x00"']
ODD = ["\x00", "\x1b", "\r", "\x0c", "\u2028", "\ufeff", "５", "é", "\udcff", "\x85"]

token = st.one_of(
    st.sampled_from(WORDS),
    st.sampled_from(NUMBERS),
    st.sampled_from(PUNCTUATION),
    st.sampled_from(STRINGS),
    st.sampled_from(ODD),
    st.text(max_size=4),
)


@st.composite
def spec_texts(draw) -> str:
    """Random tokens of the language, sometimes after a valid prefix or nested deeply."""
    body = "".join(draw(st.lists(token, max_size=60)).__iter__())
    prefix = draw(st.sampled_from(["", "input 3\n", "input 1x4x4\n", "input 3\ndense 2\n"]))
    depth = draw(st.sampled_from([0, 0, 0, 3, 70, 120]))
    return prefix + "residual {\n" * depth + body + "\n}" * draw(st.integers(0, depth + 1))


arg = st.one_of(
    st.sampled_from(NUMBERS[:9]),
    st.sampled_from(["relu", "same", "valid", "a", "width", "c"]),
    st.sampled_from(STRINGS[:2]),
    st.builds("{}={}".format, st.sampled_from(WORDS[8:]), st.sampled_from(NUMBERS[:9] + WORDS)),
)
call = st.builds(
    lambda name, args: " ".join([name, *args]),
    st.sampled_from([*WORDS[8:23], "b", "epochs"]),
    st.lists(arg, max_size=3),
)


@st.composite
def statements(draw, depth: int = 0) -> str:
    """Lines that mostly parse: calls, pipes, `let`, and blocks, repeats and residuals."""
    lines = []
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["call", "call", "pipe", "let", "nest"]))
        if kind == "call":
            lines.append(draw(call))
        elif kind == "pipe":
            lines.append(" | ".join(draw(st.lists(call, min_size=2, max_size=3))))
        elif kind == "let":
            lines.append(f"let {draw(st.sampled_from(['a', 'b', 'width']))} = {draw(arg)}")
        elif depth < 4:
            header = draw(
                st.sampled_from(["repeat 2", "repeat 1000000", "residual", "block b(a, c=2)"])
            )
            lines.append(f"{header} {{\n{draw(statements(depth + 1))}\n}}")
    return "\n".join(lines)


structured = st.builds(
    "{}{}\n{}".format,
    st.sampled_from(["input 3\n", "input 1x4x4\n", "input 3x8x8\n", ""]),
    statements(),
    st.sampled_from(["", "train {\n  epochs 1\n  loss mae\n}\n", "b 1\n", "b\n"]),
)

# Small limits keep each example fast: a `repeat 1000000` stops at 200 layers.
SMALL = Limits(layers=200, params=100_000, memory=1 << 26, depth=DEPTH_CEILING)
FUZZ = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _codes(text: str) -> list[str]:
    result = compile_source(text, "fuzz.stack", limits=SMALL)
    diags = result.diags.sorted()
    render_all(diags, text, result.diags.notes)  # rendering a caret must not fail either
    assert (result.ir is None) == result.diags.has_errors
    return [d.code for d in diags]


@FUZZ
@given(st.one_of(spec_texts(), structured))
def test_fuzz_compile_reports_only_diagnostics(text):
    _codes(text)
    try:
        stackspec.parse(text, limits=SMALL)
    except SpecError as e:
        assert e.errors
        str(e)


@FUZZ
@given(st.binary(max_size=400))
def test_fuzz_spec_bytes(data):
    # As read_spec decodes a file; undecodable bytes are read_spec's error, before parsing.
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("utf-8", "surrogateescape")
    _codes(text)


@FUZZ
@given(st.one_of(spec_texts(), structured))
def test_fuzz_fmt_is_idempotent_on_what_it_accepts(text):
    try:
        formatted = format_source(text, "fuzz.stack", limits=SMALL)
    except SpecError as e:
        render_all(e.diagnostics, e.source, e.notes)
        return
    assert format_source(formatted, "fuzz.stack", limits=SMALL) == formatted
    # Formatting keeps the meaning: the same errors and warnings, by code.
    assert sorted(_codes(formatted)) == sorted(_codes(text))
