"""Table-driven tests over the layer registry: defaults, shapes, weights, counts and argument
errors, each generated from `LAYERS` and its examples, or checked against values computed by
hand."""

from __future__ import annotations

import functools
import math

import pytest
from conftest import BAD_EXAMPLES, EXAMPLES, example_params, example_spec

import stackspec
from stackspec.compiler.pipeline import compile_source
from stackspec.grammar.syntax import Call
from stackspec.layers import ACTIVATIONS, ALIASES, INITIALIZERS, LAYERS


def compiled(call: str, shape: tuple[int, ...]):
    return compile_source(example_spec(call, shape))


def errors(call: str, shape: tuple[int, ...]) -> list[tuple[str, int, int]]:
    result = compiled(call, shape)
    return [(d.code, d.span.line, d.span.column) for d in result.diags.sorted()]


# --- the examples themselves -------------------------------------------------------------------


def test_every_layer_kind_has_valid_and_invalid_examples():
    for op, kind in LAYERS.items():
        assert any(o == op for o, *_ in EXAMPLES), f"{op}: no valid example"
        assert any(o == op for o, *_ in BAD_EXAMPLES), f"{op}: no invalid example"
        for call, *_ in kind.examples:
            assert call.split()[0] == op, f"{op}: example {call!r} calls another layer"


def _written(call: Call, kind) -> list[str]:
    positional = [a.name for a in kind.args if a.positional]
    return positional[: len(call.args)] + [kw.name for kw in call.kwargs]


@pytest.mark.parametrize("op", sorted(LAYERS))
def test_valid_examples_give_every_argument_a_non_default_value(op):
    kind, covered = LAYERS[op], set()
    for o, call, shape in EXAMPLES:
        if o != op:
            continue
        result = compiled(call, shape)
        (stmt,) = [st for st in result.program.stmts if isinstance(st, Call)]
        (node,) = result.ir.nodes
        for a in kind.args:
            # A default that depends on other arguments (None) counts once it is written.
            if a.name in _written(stmt, kind) and node.params[a.name] != a.default:
                covered.add(a.name)
    missing = [a.name for a in kind.args if a.name not in covered]
    assert not missing, f"{op}: no valid example sets {', '.join(missing)} to a non-default value"


@pytest.mark.parametrize(("op", "call", "shape"), example_params())
def test_valid_examples(op, call, shape):
    """Each compiles to one node whose shapes, weights, state and counts are the registry's."""
    result = compiled(call, shape)
    assert not result.diags.has_errors, result.diags.items
    (node,) = result.ir.nodes
    kind = LAYERS[op]
    assert node.op == op and node.input_shape == shape
    assert node.output_shape == kind.shape(node.params, shape)
    weights, state = kind.weights(node.params, shape), kind.state(node.params, shape)
    assert node.weights == weights and node.state == state
    assert node.param_count == sum(math.prod(w.shape) for w in weights.values())
    assert node.state_count == sum(math.prod(w.shape) for w in state.values())
    assert set(node.params) == {a.name for a in kind.args}


@pytest.mark.parametrize(("op", "call", "shape", "code"), example_params(BAD_EXAMPLES))
def test_invalid_examples(op, call, shape, code):
    result = compiled(call, shape)
    assert [d.code for d in result.diags.items if d.severity == "error"] == [code]
    assert result.ir is None


# --- defaults: the registry's, and LANGUAGE.md §4's written out by hand -------------------------


@functools.cache
def first_example(op: str) -> tuple[str, tuple[int, ...], dict]:
    """(call, input shape, params) of `op`'s first valid example."""
    call, shape = next((c, s) for o, c, s in EXAMPLES if o == op)
    (node,) = compiled(call, shape).ir.nodes
    return call, shape, node.params


def input_for(op: str) -> tuple[int, ...]:
    return first_example(op)[1]


def required_values(op: str) -> dict[str, object]:
    """A value for each required argument: the first valid example's."""
    params = first_example(op)[2]
    return {a.name: params[a.name] for a in LAYERS[op].args if a.required}


def minimal_call(op: str) -> str:
    given = [f"{name}={_text(v)}" for name, v in required_values(op).items()]
    return " ".join([op, *given])


def _text(value) -> str:
    """A value as a spec writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return "x".join(map(str, value))
    return str(value)


@pytest.mark.parametrize("op", sorted(LAYERS))
def test_defaults(op):
    result = compiled(minimal_call(op), input_for(op))
    assert not result.diags.has_errors, result.diags.items
    (node,) = result.ir.nodes
    kind = LAYERS[op]
    expected = {a.name: a.default for a in kind.args if not a.required}
    expected = {**required_values(op), **expected}
    assert node.params == (kind.complete(expected) if kind.complete else expected)


DOCUMENTED_DEFAULTS = {
    "dense": {"activation": "linear", "bias": True, "init": "glorot_uniform"},
    "dropout": {},
    "batchnorm": {"momentum": 0.99, "eps": 0.001, "affine": True},
    "layernorm": {"eps": 0.00001, "affine": True},
    "conv2d": {
        "activation": "linear",
        "kernel": (3, 3),
        "stride": (1, 1),
        "padding": (0, 0),
        "bias": True,
        "init": "glorot_uniform",
    },
    "maxpool2d": {"size": (2, 2), "stride": (2, 2), "padding": 0},
    "avgpool2d": {"size": (2, 2), "stride": (2, 2), "padding": 0},
    "globalavgpool": {},
    "flatten": {},
    "elu": {"alpha": 1.0},
    "leaky_relu": {"slope": 0.01},
}


@pytest.mark.parametrize("op", sorted(DOCUMENTED_DEFAULTS))
def test_defaults_are_the_documented_ones(op):
    (node,) = compiled(minimal_call(op), input_for(op)).ir.nodes
    assert {k: v for k, v in node.params.items() if k not in required_values(op)} == (
        DOCUMENTED_DEFAULTS[op]
    )


# --- shapes, weights and counts, computed by hand --------------------------------------------

# (call, input shape, output shape, trainable weights, state)
SHAPES = [
    ("dense 5", (3,), (5,), {"weight": (5, 3), "bias": (5,)}, {}),
    ("dense 5 relu bias=false", (3,), (5,), {"weight": (5, 3)}, {}),
    ("dropout 0.5", (2, 3, 4), (2, 3, 4), {}, {}),
    (
        "batchnorm",
        (7,),
        (7,),
        {"weight": (7,), "bias": (7,)},
        {"running_mean": (7,), "running_var": (7,)},
    ),
    (
        "batchnorm affine=false",
        (3, 8, 8),
        (3, 8, 8),
        {},
        {"running_mean": (3,), "running_var": (3,)},
    ),
    ("layernorm", (3, 4, 5), (3, 4, 5), {"weight": (5,), "bias": (5,)}, {}),
    ("layernorm affine=false", (6,), (6,), {}, {}),
    ("conv2d 8", (3, 10, 10), (8, 8, 8), {"weight": (8, 3, 3, 3), "bias": (8,)}, {}),
    # H: (10 + 2 - 3) // 2 + 1 = 5; W: (11 + 2 - 5) // 2 + 1 = 5
    (
        "conv2d 8 kernel=3x5 stride=2 padding=1",
        (3, 10, 11),
        (8, 5, 5),
        {"weight": (8, 3, 3, 5), "bias": (8,)},
        {},
    ),
    (
        "conv2d 4 kernel=4 padding=same bias=false",
        (1, 7, 7),
        (4, 7, 7),
        {"weight": (4, 1, 4, 4)},
        {},
    ),
    (
        "conv2d 4 kernel=1 stride=3",
        (2, 7, 8),
        (4, 3, 3),
        {"weight": (4, 2, 1, 1), "bias": (4,)},
        {},
    ),
    (
        "conv2d 2 kernel=2x3 stride=1x2 padding=valid",
        (1, 5, 9),
        (2, 4, 4),
        {
            "weight": (2, 1, 2, 3),
            "bias": (2,),
        },
        {},
    ),
    ("maxpool2d", (3, 9, 9), (3, 4, 4), {}, {}),
    ("maxpool2d 3 stride=1 padding=1", (2, 5, 5), (2, 5, 5), {}, {}),
    ("avgpool2d 2x3", (1, 6, 9), (1, 3, 3), {}, {}),
    ("avgpool2d 3 stride=2 padding=1", (1, 6, 6), (1, 3, 3), {}, {}),
    ("globalavgpool", (6, 4, 4), (6,), {}, {}),
    ("globalmaxpool", (6, 4, 4), (6,), {}, {}),
    ("upsample2d", (3, 4, 5), (3, 8, 10), {}, {}),
    ("upsample2d 3", (1, 2, 1), (1, 6, 3), {}, {}),
    ("reshape 4x6", (2, 3, 4), (4, 6), {}, {}),
    ("reshape 1x2x2", (4,), (1, 2, 2), {}, {}),
    ("flatten", (2, 3, 4), (24,), {}, {}),
    ("flatten", (5,), (5,), {}, {}),
    # Keras: PReLU() on (F) has F slopes; PReLU(shared_axes=[2, 3]) on (C,H,W) has C.
    ("prelu", (7,), (7,), {"weight": (7,)}, {}),
    ("prelu", (3, 4, 5), (3, 4, 5), {"weight": (3,)}, {}),
    # PReLU(shared_axes=[1]) on (T,F) has F slopes; BatchNormalization() (axis=-1) on (T,F) has
    # 2F trainable and 2F non-trainable weights.
    ("prelu", (6, 4), (6, 4), {"weight": (4,)}, {}),
    (
        "batchnorm",
        (6, 4),
        (6, 4),
        {"weight": (4,), "bias": (4,)},
        {"running_mean": (4,), "running_var": (4,)},
    ),
    # torch's layouts: (gates * units, F), (gates * units, units), two biases (see the counts below)
    (
        "lstm 4",
        (5, 3),
        (4,),
        {"weight_ih": (16, 3), "weight_hh": (16, 4), "bias_ih": (16,), "bias_hh": (16,)},
        {},
    ),
    (
        "gru 4 return_sequences=true bidirectional=true",
        (5, 3),
        (5, 8),
        {
            f"{name}{suffix}": shape
            for suffix in ("", "_reverse")
            for name, shape in (
                ("weight_ih", (12, 3)),
                ("weight_hh", (12, 4)),
                ("bias_ih", (12,)),
                ("bias_hh", (12,)),
            )
        },
        {},
    ),
    *((act, (2, 3, 3), (2, 3, 3), {}, {}) for act in ACTIVATIONS),
    ("elu alpha=0.5", (4,), (4,), {}, {}),
    ("leaky_relu slope=0.2", (4,), (4,), {}, {}),
    ("swish", (4,), (4,), {}, {}),
]


@pytest.mark.parametrize(("call", "shape", "out", "weights", "state"), SHAPES)
def test_shapes_weights_and_counts(call, shape, out, weights, state):
    result = compiled(call, shape)
    assert not result.diags.has_errors, result.diags.items
    (node,) = result.ir.nodes
    assert node.input_shape == shape
    assert node.output_shape == out
    assert {k: w.shape for k, w in node.weights.items()} == weights
    assert {k: w.shape for k, w in node.state.items()} == state
    assert node.param_count == sum(math.prod(s) for s in weights.values())
    assert node.state_count == sum(math.prod(s) for s in state.values())


def test_weight_init_and_fans():
    ir = stackspec.parse("input 3x8x8\nconv2d 4 init=he_normal\nflatten\ndense 5\nbatchnorm").ir
    conv, _, dense, bn = ir.nodes
    w = conv.weights["weight"]
    assert (w.init, w.fan_in, w.fan_out) == ("he_normal", 3 * 3 * 3, 4 * 3 * 3)
    assert conv.weights["bias"].init == "zeros"
    w = dense.weights["weight"]
    assert (w.init, w.fan_in, w.fan_out) == ("glorot_uniform", 4 * 6 * 6, 5)
    assert (bn.weights["weight"].init, bn.weights["bias"].init) == ("ones", "zeros")
    assert (bn.state["running_mean"].init, bn.state["running_var"].init) == ("zeros", "ones")


def test_swish_is_silu_everywhere():
    ir = stackspec.parse("input 3\nswish\ndense 2 swish\ndense 2 activation=swish").ir
    assert [n.op for n in ir.nodes] == ["silu", "dense", "dense"]
    assert [n.params.get("activation") for n in ir.nodes[1:]] == ["silu", "silu"]
    assert "swish" in ALIASES


@pytest.mark.parametrize("init", INITIALIZERS)
def test_every_initializer_is_accepted(init):
    node = stackspec.parse(f"input 3\ndense 2 init={init}").ir.nodes[0]
    assert node.params["init"] == init


def test_red_wine_counts():
    spec = stackspec.load("specs/red_wine.stack")
    assert spec.ir.param_count == 2_118_657
    assert spec.ir.state_count == 6_144
    # By hand: 11*1024+1024, then twice 1024*1024+1024, batchnorm 2*1024 each, 1024+1.
    assert 11 * 1024 + 1024 + 2 * (1024 * 1024 + 1024) + 3 * 2048 + 1025 == 2_118_657


# --- shape errors ------------------------------------------------------------------------------

# (call, input shape, code, column of the caret: the argument at fault, else the layer name)
SHAPE_ERRORS = [
    ("dense 3", (2, 4, 4), "E301", 1),
    ("conv2d 3", (4,), "E301", 1),
    ("maxpool2d", (4,), "E301", 1),
    ("avgpool2d", (4,), "E301", 1),
    ("globalavgpool", (4,), "E301", 1),
    ("conv2d 3 kernel=5", (1, 4, 4), "E304", 17),
    ("conv2d 3 stride=2 kernel=1x6", (1, 4, 4), "E304", 26),
    ("maxpool2d 5", (1, 4, 4), "E304", 11),
    ("avgpool2d size=3x9", (1, 4, 4), "E304", 16),
    ("conv2d 3 padding=same stride=2", (1, 8, 8), "E305", 18),
    ("maxpool2d 2 padding=2", (1, 8, 8), "E205", 21),
    ("reshape 5x5", (2, 3, 4), "E301", 9),
]


@pytest.mark.parametrize(("call", "shape", "code", "column"), SHAPE_ERRORS)
def test_shape_errors(call, shape, code, column):
    assert errors(call, shape) == [(code, 2, column)]


# --- argument errors, generated from each layer's table ----------------------------------------


def _bad_values(arg) -> list[tuple[str, str]]:
    """(text, expected code) for values the table says are wrong for `arg`."""
    bad = []
    if arg.type == "int":
        bad += [("1.5", "E204"), ("abc", "E204"), ('"3"', "E204")]
    elif arg.type == "float":
        bad += [("abc", "E204"), ("true", "E204"), ("2x2", "E204")]
    elif arg.type == "bool":
        bad += [("1", "E204"), ("yes", "E204")]
    elif arg.type == "choice":
        bad += [("bogus", "E203"), ("3", "E204")]
    elif arg.type == "size2":
        bad += [("1.5", "E204"), ("2x2x2", "E204"), ("0", "E304"), ("abc", "E204")]
    elif arg.type == "padding":
        bad += [("bogus", "E203"), ("-1", "E205"), ("1.5", "E204")]
    elif arg.type == "shape":
        bad += [("1.5", "E204"), ("abc", "E204"), ("0", "E304"), ("2x0", "E304")]
    if arg.type in ("int", "float"):
        code = "E304" if arg.size else "E205"
        if arg.size:
            bad.append(("0", code))
        if arg.low is not None:
            low = arg.low if arg.low_open else arg.low - 1
            bad.append((repr(low) if arg.type == "float" else str(int(low)), code))
        if arg.high is not None:
            high = arg.high if arg.high_open else arg.high + 1
            bad.append((repr(float(high)) if arg.type == "float" else str(int(high)), code))
    return bad


ARG_CASES = [
    pytest.param(op, a.name, text, code, id=f"{op}-{a.name}={text}")
    for op, kind in sorted(LAYERS.items())
    for a in kind.args
    for text, code in _bad_values(a)
]


def test_every_argument_has_bad_values():
    tested = {(op, name) for op, name, *_ in (c.values for c in ARG_CASES)}
    assert tested == {(op, a.name) for op, k in LAYERS.items() for a in k.args}


@pytest.mark.parametrize(("op", "name", "text", "code"), ARG_CASES)
def test_argument_errors(op, name, text, code):
    others = [f"{k}={_text(v)}" for k, v in required_values(op).items() if k != name]
    call = " ".join([op, *others, f"{name}={text}"])
    column = call.index(f"{name}={text}") + len(name) + 2
    assert errors(call, input_for(op)) == [(code, 2, column)]


@pytest.mark.parametrize("op", sorted(LAYERS))
def test_unknown_keyword(op):
    call = minimal_call(op)
    assert errors(f"{call} bogus=1", input_for(op)) == [("E202", 2, len(call) + 2)]


@pytest.mark.parametrize("op", sorted(op for op, kind in LAYERS.items() if kind.args))
def test_duplicate_keyword(op):
    first = LAYERS[op].args[0]
    good = _text(first.default) if not first.required else _text(required_values(op)[first.name])
    call = f"{minimal_call(op)} {first.name}={good} {first.name}={good}"
    if first.required:  # minimal_call already gave it once
        call = call.replace(f" {first.name}={good}", "", 1)
    assert errors(call, input_for(op)) == [("E207", 2, call.rindex(f"{first.name}=") + 1)]


@pytest.mark.parametrize(
    "op", sorted(op for op, k in LAYERS.items() if any(a.required for a in k.args))
)
def test_missing_required_argument(op):
    # One E206 naming every missing argument (`attention` alone misses heads and key_dim).
    assert errors(op, input_for(op)) == [("E206", 2, 1)]


@pytest.mark.parametrize("op", sorted(LAYERS))
def test_too_many_positional_arguments(op):
    positional = [a for a in LAYERS[op].args if a.positional]
    given = required_values(op)
    values = [_text(given[a.name]) if a.required else _text(a.default) for a in positional]
    call = " ".join([op, *values, "7"])
    assert errors(call, input_for(op)) == [("E209", 2, len(call))]


def test_activation_arguments_are_the_activation_layers():
    for op in ("dense", "conv2d"):
        (act,) = [a for a in LAYERS[op].args if a.name == "activation"]
        assert set(act.choices) == set(ACTIVATIONS)
        assert act.aliases == ALIASES


def test_did_you_mean_for_activation():
    result = compiled("dense 4 rellu", (3,))
    (d,) = result.diags.items
    assert d.code == "E203" and "did you mean 'relu'" in d.message


# Keras's counts of LSTM(u) and GRU(u) (reset_after=True) on F features; Bidirectional doubles.
# Ours are torch's: the GRU's equal Keras's (both keep an input and a recurrent bias); the
# LSTM has 4u more, torch's second bias, which Keras folds into one (the Keras emitter passes
# the sum).
@pytest.mark.parametrize(
    ("call", "keras", "extra"),
    [
        ("lstm 4", 4 * 4 * (3 + 4) + 4 * 4, 4 * 4),
        ("lstm 4 bidirectional=true", 2 * (4 * 4 * (3 + 4) + 4 * 4), 2 * 4 * 4),
        ("gru 4", 3 * 4 * (3 + 4) + 2 * 3 * 4, 0),
        ("gru 4 bidirectional=true return_sequences=true", 2 * (3 * 4 * (3 + 4) + 6 * 4), 0),
    ],
)
def test_recurrent_counts_against_keras(call, keras, extra):
    (node,) = compiled(call, (5, 3)).ir.nodes
    assert node.param_count == keras + extra


def test_recurrent_initial_weights_are_keras():
    import numpy as np

    from stackspec.layers.init import initial_weights

    ir = stackspec.parse("input 5x3\nlstm 4\n").ir
    w = initial_weights(ir, 0)
    hh = w["0.weight_hh"].astype(np.float64)
    np.testing.assert_allclose(hh.T @ hh, np.eye(4), atol=1e-6)  # orthonormal columns
    np.testing.assert_array_equal(w["0.bias_ih"], np.repeat([0, 1, 0, 0], 4))  # forget = 1
    np.testing.assert_array_equal(w["0.bias_hh"], np.zeros(16))
    ih = ir.nodes[0].weights["weight_ih"]
    assert (ih.init, ih.fan_in, ih.fan_out) == ("glorot_uniform", 3, 16)
