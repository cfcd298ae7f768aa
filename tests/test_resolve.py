"""Resolution and expansion (LANGUAGE.md §3): let, blocks, repeat, residual, --set, recursion,
limits, and the train section."""

from __future__ import annotations

import time

import pytest

import stackspec
from stackspec.compiler.overrides import parse_override
from stackspec.compiler.pipeline import compile_source
from stackspec.compiler.settings import defaults
from stackspec.limits import DEFAULT

MAX_LAYERS = DEFAULT.layers


def ir(text: str, **overrides):
    return stackspec.parse(text, overrides={k: str(v) for k, v in overrides.items()}).ir


def codes(text: str, overrides=None) -> list[tuple[str, int, int]]:
    result = compile_source(text, "x", overrides)
    return [(d.code, d.span.line, d.span.column) for d in result.diags.sorted()]


def layers(model) -> list[tuple]:
    """(id, op, the params that vary in these tests) for every node, bodies included."""
    out = []
    for n in model.walk():
        keep = {k: v for k, v in n.params.items() if k in ("units", "rate", "activation")}
        out.append((n.id, n.op, keep))
    return out


# --- let ---------------------------------------------------------------------------------------


def test_let_everywhere_a_value_is():
    model = ir(
        "let n = 3\nlet w = 8\nlet act = tanh\nlet r = 0.25\nlet shape = 2x6x6\n"
        "input shape\nrepeat n {\n  conv2d 2 act padding=1\n}\nflatten\ndense w activation=act\n"
        "dropout r\ntrain {\n  epochs n\n}\n"
    )
    assert model.input == (2, 6, 6)
    assert [n.op for n in model.nodes] == ["conv2d"] * 3 + ["flatten", "dense", "dropout"]
    assert model.nodes[0].params["activation"] == "tanh"
    assert model.nodes[4].params["units"] == 8
    assert model.nodes[5].params["rate"] == 0.25
    assert model.train["epochs"] == 3


def test_let_defined_after_use_and_in_terms_of_another():
    model = ir("input 3\ndense wide\nlet wide = double\nlet double = 10\n")
    assert model.nodes[0].params["units"] == 10


def test_unused_let_is_a_warning():
    assert codes("let w = 3\ninput 3\ndense 2\n") == [("W201", 1, 5)]


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("512", "number", 512),
        ("-3", "number", -3),
        ("0.5", "number", 0.5),
        ("1e-3", "number", 1e-3),
        ("1x28x28", "shape", (1, 28, 28)),
        ("true", "bool", True),
        ("relu", "name", "relu"),
        ("some path", "string", "some path"),
        ("9" * 80, "string", "9" * 80),  # too long for a number: never int() of it
    ],
)
def test_parse_override(text, kind, value):
    v = parse_override(text)
    assert (v.kind, v.value) == (kind, value)


def test_overrides_from_python_need_not_be_text():
    text = (
        "let width = 4\nlet bias = true\nlet k = 3\ninput 1x8x8\nconv2d width kernel=k bias=bias\n"
    )
    spec = stackspec.parse(text, overrides={"width": 8, "bias": False, "k": (3, 5)})
    params = spec.ir.nodes[0].params
    assert (params["filters"], params["bias"], params["kernel"]) == (8, False, (3, 5))


def test_set_overrides_a_let():
    text = "let width = 4\nlet act = relu\ninput 3\ndense width act\n"
    assert ir(text).nodes[0].params == ir(text, width=4).nodes[0].params
    node = ir(text, width=16, act="gelu").nodes[0]
    assert (node.params["units"], node.params["activation"]) == (16, "gelu")


def test_set_value_errors_point_at_the_use():
    assert codes("let w = 4\ninput 3\ndense w\n", {"w": "-2"}) == [("E304", 3, 7)]
    assert codes("let w = 4\ninput 3\ndense w\n", {"w": "abc"}) == [("E204", 3, 7)]


def test_set_unknown_name():
    (d,) = compile_source("input 3\ndense 2\n", "x", {"w": "3"}).diags.items
    assert d.code == "E213" and d.hint == "the spec defines no `let`"


def test_set_the_input_shape():
    assert ir("let shape = 1x8x8\ninput shape\nflatten\n", shape="3x4x4").output_shape == (48,)


# --- blocks ------------------------------------------------------------------------------------

BLOCK = "block hidden(units, rate=0.3, act=relu) {\n  dense units act\n  dropout rate\n}\n"


def test_block_positional_and_keyword_calls():
    model = ir(BLOCK + "input 3\nhidden 8\nhidden 4 0.1\nhidden units=2 act=tanh rate=0.5\n")
    assert layers(model) == [
        ("0", "dense", {"units": 8, "activation": "relu"}),
        ("1", "dropout", {"rate": 0.3}),
        ("2", "dense", {"units": 4, "activation": "relu"}),
        ("3", "dropout", {"rate": 0.1}),
        ("4", "dense", {"units": 2, "activation": "tanh"}),
        ("5", "dropout", {"rate": 0.5}),
    ]


def test_block_defined_after_use_and_calling_blocks():
    model = ir(
        "input 3\nouter 5\n"
        "block outer(n) {\n  inner n\n  inner units=n\n}\n"
        "block inner(units) {\n  dense units\n}\n"
    )
    assert [n.params["units"] for n in model.nodes] == [5, 5]


def test_block_parameter_shadows_a_let_and_defaults_see_lets():
    model = ir("let n = 7\nlet d = 2\nblock b(n, m=d) {\n  dense n\n  dense m\n}\ninput 3\nb 4\n")
    assert [node.params["units"] for node in model.nodes] == [4, 2]


def test_default_does_not_see_the_callers_parameters():
    # `m=k` names the constant k, not a parameter k of whoever calls.
    text = "let k = 6\nblock a(k) {\n  b\n}\nblock b(m=k) {\n  dense m\n}\ninput 3\na 9\n"
    assert ir(text).nodes[0].params["units"] == 6


def test_block_with_residual_and_repeat_inside():
    model = ir(
        "block rb(w) {\n  residual {\n    dense w relu\n  }\n}\ninput 4\nrepeat 2 { rb 4 }\n"
    )
    assert [(n.id, n.op) for n in model.walk()] == [
        ("0", "residual"),
        ("0.0", "dense"),
        ("1", "residual"),
        ("1.0", "dense"),
    ]


@pytest.mark.parametrize(
    ("call", "code", "column"),
    [
        ("hidden", "E206", 1),
        ("hidden 4 0.1 relu 9", "E209", 19),
        ("hidden 4 size=3", "E202", 10),
        ("hidden 4 units=3", "E207", 10),
        ("hidden units=3 4", "E209", 16),
    ],
)
def test_block_call_errors(call, code, column):
    assert codes(BLOCK + f"input 3\n{call}\n") == [(code, 6, column)]


def test_block_definition_errors():
    assert codes("block b(x, x) {\n  dense x\n}\ninput 3\nb 2\n") == [("E207", 1, 12)]
    assert codes("block b() {\n  relu\n}\nblock b() {\n  tanh\n}\ninput 3\nb\n") == [("E210", 4, 7)]
    assert codes("block swish() {\n  relu\n}\ninput 3\n") == [("E211", 1, 7)]


def test_unused_block_is_a_warning():
    assert codes("block b() {\n  relu\n}\ninput 3\ndense 2\n") == [("W202", 1, 7)]


@pytest.mark.parametrize(
    ("blocks", "expected"),
    [
        ("block a() {\n  a\n}\n", [("E208", 2, 3)]),
        ("block a() {\n  b\n}\nblock b() {\n  a\n}\n", [("E208", 5, 3)]),
        ("block a() {\n  b\n}\nblock b() {\n  c\n}\nblock c() {\n  repeat 2 { a }\n}\n", None),
    ],
)
def test_recursion_is_reported_once(blocks, expected):
    found = codes(blocks + "input 3\na\n")
    assert [c for c, *_ in found] == ["E208"]
    if expected:
        assert found == expected


def test_recursion_is_detected_without_a_call():
    assert [c for c, *_ in codes("block a() {\n  a\n}\ninput 3\ndense 1\n")] == ["E208"]


# --- repeat and residual --------------------------------------------------------------------


def test_repeat_copies_have_their_own_weights():
    model = ir("input 3\nrepeat 3 {\n  dense 3 relu | dropout 0.1\n}\n")
    assert [n.id for n in model.nodes] == [str(i) for i in range(6)]
    assert list(model.tensors()) == [
        "0.weight",
        "0.bias",
        "2.weight",
        "2.bias",
        "4.weight",
        "4.bias",
    ]


def test_nested_repeat_and_residual_ids():
    model = ir("input 4\nrepeat 2 {\n  residual {\n    repeat 2 { dense 4 }\n    relu\n  }\n}\n")
    assert [n.id for n in model.walk()] == ["0", "0.0", "0.1", "0.2", "1", "1.0", "1.1", "1.2"]
    assert [len(n.body) for n in model.nodes] == [3, 3]


@pytest.mark.parametrize(
    ("count", "code"), [("0", "E205"), ("-1", "E205"), ("1.5", "E204"), ("relu", "E204")]
)
def test_repeat_count_errors(count, code):
    assert codes(f"input 3\nrepeat {count} {{\n  relu\n}}\n") == [(code, 2, 8)]


def test_empty_repeat_body_with_a_huge_count_is_instant():
    start = time.perf_counter()
    assert ir("input 3\nrepeat 1000000000000000000000 {}\ndense 2\n").nodes[0].op == "dense"
    # A guard against looping 10^21 times, not a speed test: it takes milliseconds.
    assert time.perf_counter() - start < 30


def test_statements_only_at_top_level():
    for inner in ("let w = 3", "input 3", "block b() {}", "train {}"):
        found = codes(f"input 3\nrepeat 2 {{\n  {inner}\n}}\n")
        assert [c for c, *_ in found] == ["E214"], inner


# --- limits ------------------------------------------------------------------------------------


def test_layer_limit():
    assert len(ir(f"input 3\nrepeat {MAX_LAYERS} {{ relu }}\n").nodes) == MAX_LAYERS
    assert codes(f"input 3\nrepeat {MAX_LAYERS} {{ relu }}\nrelu\n") == [("E402", 3, 1)]
    # A residual counts as a layer too.
    assert codes(f"input 3\nrepeat {MAX_LAYERS // 2} {{ residual {{ relu }} }}\nrelu\n") == [
        ("E402", 3, 1)
    ]


def test_layer_limit_stops_expansion_early():
    start = time.perf_counter()
    found = codes("input 3\nrepeat 1000000000 {\n  repeat 1000000000 {\n    relu\n  }\n}\n")
    assert found == [("E402", 4, 5)]
    # A guard against expanding 10^18 layers, not a speed test: it takes milliseconds.
    assert time.perf_counter() - start < 30


def test_nesting_limit_through_blocks():
    chain = "".join(f"block b{i}() {{\n  b{i + 1}\n}}\n" for i in range(70))
    found = codes(chain + "block b70() {\n  relu\n}\ninput 3\nb0\n")
    assert [c for c, *_ in found] == ["E403"]


def test_nesting_limit_through_blocks_not_reached():
    chain = "".join(f"block b{i}() {{\n  b{i + 1}\n}}\n" for i in range(60))
    assert len(ir(chain + "block b60() {\n  relu\n}\ninput 3\nb0\n").nodes) == 1


def test_parameter_limit_and_override():
    text = "input 1000\ndense 1000\ndense 1000\n"
    assert stackspec.parse(text, max_params=3_000_000).ir.param_count == 2_002_000
    found = compile_source(text, max_params=1_500_000).diags.sorted()
    assert [(d.code, d.span.line) for d in found] == [("E401", 3)]


def test_parameter_limit_default_is_100_million():
    # 10000 * 9999 + 9999 = 99,999,999 parameters; one more unit is 100,010,000.
    assert [c for c, *_ in codes("input 10000\ndense 9999\n")] == []
    assert [c for c, *_ in codes("input 10000\ndense 10000\n")] == ["E401"]


# --- the train section -------------------------------------------------------------------------


def test_train_defaults():
    assert ir("input 3\ndense 1\n").train == defaults()
    assert defaults() == {
        "loss": {"name": "mse"},
        "optimizer": {"name": "adam", "lr": 0.001, "beta1": 0.9, "beta2": 0.999, "eps": 1e-7},
        "batch": 32,
        "epochs": 10,
        "metrics": [],
        "top_k": None,
        "early_stop": None,
        "seed": 0,
        "shuffle": True,
        "class_weight": None,
        "weight_column": None,
        "schedule": None,
        "clip": None,
        "checkpoint": None,
    }


@pytest.mark.parametrize(
    ("line", "key", "value"),
    [
        ("loss mae", "loss", {"name": "mae"}),
        ("loss huber", "loss", {"name": "huber", "delta": 1.0}),
        ("loss huber delta=2", "loss", {"name": "huber", "delta": 2.0}),
        ("loss bce", "loss", {"name": "bce"}),
        ("loss crossentropy", "loss", {"name": "crossentropy"}),
        (
            "optimizer adamw lr=0.01",
            "optimizer",
            {
                "name": "adamw",
                "lr": 0.01,
                "beta1": 0.9,
                "beta2": 0.999,
                "eps": 1e-7,
                "weight_decay": 0.01,
            },
        ),
        (
            "optimizer sgd momentum=0.9 nesterov=true",
            "optimizer",
            {"name": "sgd", "lr": 0.01, "momentum": 0.9, "nesterov": True},
        ),
        (
            "optimizer rmsprop",
            "optimizer",
            {"name": "rmsprop", "lr": 0.001, "rho": 0.9, "eps": 1e-7},
        ),
        ("batch 256", "batch", 256),
        ("epochs 100", "epochs", 100),
        ("metrics mae mse accuracy", "metrics", ["mae", "mse", "accuracy"]),
        ("metrics rmse r2 mae", "metrics", ["rmse", "r2", "mae"]),
        (
            "early_stop",
            "early_stop",
            {"patience": 10, "min_delta": 0.0, "restore_best": True},
        ),
        (
            "early_stop patience=3 min_delta=0.01 restore_best=false",
            "early_stop",
            {"patience": 3, "min_delta": 0.01, "restore_best": False},
        ),
        ("seed 42", "seed", 42),
        ("shuffle false", "shuffle", False),
        ("shuffle", "shuffle", True),
    ],
)
def test_train_settings(line, key, value):
    train = ir(f"input 3\ndense 2\ntrain {{\n  {line}\n}}\n").train
    assert train[key] == value
    assert {k: v for k, v in train.items() if k != key} == {
        k: v for k, v in defaults().items() if k != key
    }


@pytest.mark.parametrize(
    ("line", "code", "column"),
    [
        ("loss", "E206", 3),
        ("optimizer", "E206", 3),
        ("epochs", "E206", 3),
        ("batch", "E206", 3),
        ("seed", "E206", 3),
        ("epoch 3", "E212", 3),
        ("loss maee", "E203", 8),
        ("loss mae delta=1", "E202", 12),
        ("optimizer adam momentum=0.9", "E202", 18),
        ("metrics mae mae", "E207", 15),
        ("metrics f2", "E203", 11),
        ("metrics f1", "E214", 11),
        ("metrics mae auc", "E214", 15),
        ("metrics accuracy k=3", "E202", 20),
        ("batch 0", "E205", 9),
        ("seed -1", "E205", 8),
        ("shuffle 1", "E204", 11),
        ("input 3", "E214", 3),
        ("optimizer lr=0.1 sgd", "E209", 20),
    ],
)
def test_train_errors(line, code, column):
    assert codes(f"input 3\ndense 2\ntrain {{\n  {line}\n}}\n") == [(code, 4, column)]


def test_training_setting_outside_train_gets_a_hint():
    (d,) = compile_source("input 3\ndense 2\nepochs 3\n").diags.items
    assert d.code == "E201" and "inside `train" in d.hint


def test_long_chains_of_constants_and_blocks_need_no_recursion():
    lets = "".join(f"let a{i} = a{i - 1}\n" for i in range(1, 1000))
    assert ir(f"input 3\nlet a0 = 2\n{lets}dense a999\n").nodes[0].output_shape == (2,)
    cycle = "".join(f"let a{i} = a{i - 1}\n" for i in range(1, 1000))
    assert [c for c, *_ in codes(f"input 3\nlet a0 = a999\n{cycle}dense a999\n")] == ["E208"]
    blocks = "".join(f"block b{i}() {{\n  b{i - 1}\n}}\n" for i in range(1, 1000))
    found = codes(f"input 3\nblock b0() {{\n  b999\n}}\n{blocks}b999\n")
    assert [c for c, *_ in found] == ["E208"]


def test_a_limit_passed_inside_a_block_points_at_the_outermost_call():
    text = (
        "input 4\nblock inner() {\n  repeat 100 {\n    dense 4\n  }\n}\n"
        "block outer() {\n  repeat 200 {\n    inner\n  }\n}\nouter\n"
    )
    assert codes(text) == [("E402", 12, 1)]
