"""Property tests (hypothesis): specs generated from the grammar and random mutations of valid
specs never raise anything but SpecError; fmt is idempotent, keeps comments and the IR; parse ->
fmt -> parse gives the same syntax tree."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import stackspec
from stackspec.compiler.fmt import format_source
from stackspec.diagnostics import Diagnostics, SpecError
from stackspec.grammar import syntax as s
from stackspec.grammar.parser import parse_program
from stackspec.layers import ACTIVATIONS

ROOT = Path(__file__).resolve().parent.parent
SPECS = [p.read_text() for p in sorted((ROOT / "specs").glob("*.stack"))]
FAST = settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))

# --- layout: the same statements written in different ways --------------------------------------

spaces = st.sampled_from([" ", "  ", "\t", " \t "])
comment = st.sampled_from(["", "", "", "  # note", " #x", "\t# a | b { c }"])
blank = st.sampled_from(["", "", "\n", "\n\n", "\n# own line\n"])


@st.composite
def layout(draw, words: list[str]) -> str:
    return draw(spaces).join(words) if words else ""


# --- any syntax: generated from the grammar -------------------------------------------------------

NAMES = [
    "dense",
    "dropout",
    "relu",
    "conv2d",
    "flatten",
    "hidden",
    "w",
    "units",
    "rate",
    "same",
    "loss",
    "mae",
    "x",
    "swish",
]
number = st.one_of(
    st.integers(-5, 5000).map(str),
    st.sampled_from(["0.3", ".5", "1e-3", "-2.5", "1E3", "3.", "1e999", "9" * 70]),
)
shape = st.lists(st.integers(0, 40), min_size=2, max_size=4).map(lambda d: "x".join(map(str, d)))
value = st.one_of(
    number,
    shape,
    st.sampled_from(NAMES),
    st.sampled_from(["true", "false", '"s"', '"a \\" b"']),
)
kwarg = st.tuples(st.sampled_from(NAMES + ["kernel", "padding", "stride", "bias"]), value).map(
    lambda kv: f"{kv[0]}={kv[1]}"
)


@st.composite
def call(draw) -> str:
    words = [draw(st.sampled_from(NAMES))]
    words += draw(st.lists(value, max_size=3))
    words += draw(st.lists(kwarg, max_size=2))
    return draw(layout(words))


@st.composite
def body(draw, depth: int) -> str:
    inner = draw(statements(depth + 1, top=False))
    return "{" + draw(st.sampled_from(["", "\n", " "])) + inner + draw(blank) + "\n}"


@st.composite
def statement(draw, depth: int, top: bool) -> str:
    kinds = ["call", "call", "call"]
    if depth < 3:
        kinds += ["repeat", "residual"]
    if top:
        kinds += ["input", "let", "block", "train"]
    kind = draw(st.sampled_from(kinds))
    if kind == "call":
        return draw(call())
    if kind == "input":
        return "input " + draw(st.one_of(shape, number))
    if kind == "let":
        return f"let {draw(st.sampled_from(NAMES))} = {draw(value)}"
    if kind == "block":
        params = draw(st.lists(st.sampled_from(["u", "r=0.3", "act=relu", "u"]), max_size=3))
        return f"block {draw(st.sampled_from(['hidden', 'b2', 'dense']))}({', '.join(params)}) " + (
            draw(body(depth))
        )
    if kind == "repeat":
        return f"repeat {draw(value)} " + draw(body(depth))
    return f"{kind} " + draw(body(depth))


@st.composite
def statements(draw, depth: int = 0, top: bool = True) -> str:
    out = []
    for i, stmt in enumerate(draw(st.lists(statement(depth, top), max_size=6))):
        if i:
            out.append(draw(st.sampled_from(["\n", " | ", "|\n  ", "\n\n"])))
        out.append(stmt + draw(comment))
    return "".join(out)


def no_crash(text: str) -> None:
    try:
        stackspec.parse(text)
    except SpecError as e:
        assert e.diagnostics, "a SpecError always carries its diagnostics"


@FAST
@given(statements())
def test_generated_specs_raise_only_spec_error(text):
    no_crash(text)


# --- random mutations of valid specs --------------------------------------------------------------

PIECES = [
    "{",
    "}",
    "|",
    "\n",
    "=",
    "(",
    ")",
    ",",
    "x",
    "-",
    ".",
    "e",
    '"',
    "#",
    "\\",
    "\r",
    "\t",
    "é",
    "\x00",
    "input",
    "let",
    "block",
    "repeat 100000 {",
    "residual {",
    "train {",
    "true",
    "3x3",
    "1e400",
    "9" * 100,
    "padding=same",
    "stride=2",
    "kernel=9",
    "flatten",
    "softmax",
    "{" * 70,
    "swish",
]


@st.composite
def mutated(draw) -> str:
    text = draw(st.sampled_from(SPECS))
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(text)))
        j = min(len(text), i + draw(st.integers(0, 8)))
        piece = draw(st.one_of(st.sampled_from(PIECES), st.text(max_size=3)))
        text = text[:i] + piece + text[j:]
    return text


@FAST
@given(mutated())
def test_mutated_specs_raise_only_spec_error(text):
    no_crash(text)


# --- fmt ------------------------------------------------------------------------------------------


def tree(program: s.Program):
    """A syntax tree without positions, for comparing what was written."""

    def strip(x):
        if isinstance(x, s.Value):
            return ("value", x.kind, x.value)
        if dataclasses.is_dataclass(x):
            return (type(x).__name__,) + tuple(
                strip(getattr(x, f.name))
                for f in dataclasses.fields(x)
                if f.name not in ("span", "open", "close", "end", "comments")
            )
        if isinstance(x, tuple):
            return tuple(strip(v) for v in x)
        return x

    return strip(program)


def parsed(text: str) -> s.Program | None:
    diags = Diagnostics()
    program = parse_program(text, diags)
    return program if not diags.has_errors else None


def comments(program: s.Program) -> list[str]:
    return [c.text for c in program.comments]


@FAST
@given(statements())
def test_fmt_round_trip_on_any_syntax(text):
    program = parsed(text)
    if program is None:
        return
    formatted = format_source(text)
    again = parsed(formatted)
    assert again is not None, formatted
    assert tree(again) == tree(program)
    assert comments(again) == comments(program)
    assert format_source(formatted) == formatted


# Valid models, written in many layouts: fmt must keep the IR.
act = st.sampled_from(ACTIVATIONS + ("swish",))


@st.composite
def layer(draw, width: int, depth: int = 0) -> str:
    kinds = ["dense", "dropout", "batchnorm", "layernorm", "act"]
    if depth < 2:
        kinds += ["residual", "repeat"]
    kind = draw(st.sampled_from(kinds))
    if kind == "dense":
        words = ["dense", str(width)] + draw(st.lists(act.map(str), max_size=1))
        words += draw(st.sampled_from([[], ["bias=false"], ["init=he_normal"]]))
        return draw(layout(words))
    if kind == "dropout":
        return draw(layout(["dropout", draw(st.sampled_from(["0.1", ".5", "0", "rate=0.2"]))]))
    if kind in ("batchnorm", "layernorm"):
        return draw(layout([kind] + draw(st.sampled_from([[], ["eps=1e-3"], ["affine=false"]]))))
    if kind == "act":
        return draw(act)
    inner = draw(st.lists(layer(width, depth + 1), min_size=1, max_size=3))
    sep = draw(st.sampled_from([" | ", "\n", "\n\n", "  # c\n"]))
    head = "residual" if kind == "residual" else f"repeat {draw(st.integers(1, 3))}"
    return f"{head} {{" + draw(st.sampled_from(["", "\n"])) + sep.join(inner) + "\n}"


@st.composite
def model(draw) -> str:
    width = draw(st.integers(1, 8))
    parts = [draw(st.sampled_from(["", "# header\n"])) + f"input {width}"]
    parts += draw(st.lists(layer(width), min_size=1, max_size=5))
    if draw(st.booleans()):
        parts.append("train {\n  loss mae | epochs 2\n  seed 3  # s\n}")
    seps = draw(st.lists(st.sampled_from(["\n", "\n\n", " | ", "  # x\n"]), min_size=len(parts)))
    seps[len(parts) - 1] = draw(st.sampled_from(["", "\n", "  # end"]))  # never a final `|`
    return "".join(p + sep for p, sep in zip(parts, seps, strict=False))


def meaning(text: str):
    ir = stackspec.parse(text).ir
    return ir.model_hash(), [n.param_count for n in ir.walk()], ir.train


@FAST
@given(model())
def test_fmt_keeps_the_ir(text):
    formatted = format_source(text)
    assert meaning(formatted) == meaning(text)
    assert format_source(formatted) == formatted
    assert tree(parsed(formatted)) == tree(parsed(text))
