"""The IR (LANGUAGE.md §8): its JSON form, ids, defaults, totals, tensors and model hash."""

from __future__ import annotations

import json

import pytest
from conftest import every_layer_specs

import stackspec
from stackspec.compiler.ir import FORMAT, VERSION
from stackspec.layers import LAYERS

TINY = """input 3x8x8
conv2d 4 relu padding=same
residual {
  conv2d 4 padding=1
  batchnorm
}
maxpool2d 2
flatten
dense 10 swish
"""


def test_top_level_fields():
    doc = json.loads(stackspec.parse(TINY).ir.dumps())
    assert list(doc) == [
        "format",
        "version",
        "input",
        "nodes",
        "train",
        "param_count",
        "state_count",
    ]
    # Without branches the IR is version 1's, and says so (LANGUAGE.md §8); with them, 2.
    assert (doc["format"], doc["version"], doc["input"]) == (FORMAT, 1, [3, 8, 8])
    assert (FORMAT, VERSION) == ("stackspec-ir", 2)
    joined = stackspec.parse("input 4\nconcat {\n  branch { dense 2 }\n  branch { }\n}\n").ir
    assert json.loads(joined.dumps())["version"] == VERSION


def test_node_fields_and_ids():
    doc = stackspec.parse(TINY).ir.to_json()
    first = doc["nodes"][0]
    assert first == {
        "id": "0",
        "op": "conv2d",
        "params": {
            "filters": 4,
            "activation": "relu",
            "kernel": [3, 3],
            "stride": [1, 1],
            "padding": "same",
            "bias": True,
            "init": "glorot_uniform",
        },
        "input_shape": [3, 8, 8],
        "output_shape": [4, 8, 8],
        "param_count": 4 * 3 * 3 * 3 + 4,
        "state_count": 0,
        "source": {"line": 2, "column": 1},
    }
    residual = doc["nodes"][1]
    assert residual["op"] == "residual" and residual["params"] == {}
    assert [n["id"] for n in residual["body"]] == ["1.0", "1.1"]
    assert residual["body"][0]["params"]["padding"] == [1, 1]
    assert residual["param_count"] == (4 * 4 * 9 + 4) + 8
    assert residual["state_count"] == 8
    assert [n["id"] for n in doc["nodes"]] == ["0", "1", "2", "3", "4"]
    assert "body" not in first


def test_every_default_is_filled_in():
    doc = stackspec.parse(TINY).ir.to_json()
    nodes = doc["nodes"][:1] + doc["nodes"][1]["body"] + doc["nodes"][2:]
    for n in nodes:
        assert set(n["params"]) == {a.name for a in LAYERS[n["op"]].args}, n["op"]
    pool = doc["nodes"][2]["params"]
    assert pool == {"size": [2, 2], "stride": [2, 2], "padding": 0}
    assert doc["nodes"][4]["params"]["activation"] == "silu"
    assert set(doc["train"]) == {
        "loss",
        "optimizer",
        "batch",
        "epochs",
        "metrics",
        "top_k",
        "early_stop",
        "seed",
        "shuffle",
        "class_weight",
        "weight_column",
        "schedule",
        "clip",
        "checkpoint",
    }


def test_every_layer_has_every_default_filled_in_and_round_trips_through_json():
    for name, text in every_layer_specs().items():
        ir = stackspec.parse(text).ir
        doc = json.loads(ir.dumps())
        assert doc == ir.to_json(), name
        for n in ir.walk():
            if n.op in LAYERS:
                assert set(n.params) == {a.name for a in LAYERS[n.op].args}, name
        nodes = doc["nodes"]
        assert doc["param_count"] == sum(n["param_count"] for n in nodes) == ir.param_count
        assert doc["state_count"] == sum(n["state_count"] for n in nodes) == ir.state_count


def test_totals_are_the_sum_of_the_nodes():
    ir = stackspec.parse(TINY).ir
    doc = ir.to_json()
    assert doc["param_count"] == sum(n["param_count"] for n in doc["nodes"]) == ir.param_count
    assert doc["state_count"] == sum(n["state_count"] for n in doc["nodes"]) == 8


def test_red_wine_ir():
    doc = json.loads(stackspec.load("specs/red_wine.stack").ir.dumps())
    assert (doc["param_count"], doc["state_count"]) == (2_118_657, 6_144)
    assert [n["op"] for n in doc["nodes"]] == ["dense", "dropout", "batchnorm"] * 3 + ["dense"]
    assert doc["train"] == {
        "loss": {"name": "mae"},
        "optimizer": {"name": "adam", "lr": 0.001, "beta1": 0.9, "beta2": 0.999, "eps": 1e-7},
        "batch": 256,
        "epochs": 100,
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
    # Every node of a repeat points at the line it was written on.
    assert {n["source"]["line"] for n in doc["nodes"][:9]} == {6}


def test_walk_and_tensors():
    ir = stackspec.parse(TINY).ir
    assert [n.id for n in ir.walk()] == ["0", "1", "1.0", "1.1", "2", "3", "4"]
    tensors = ir.tensors()
    assert list(tensors) == [
        "0.weight",
        "0.bias",
        "1.0.weight",
        "1.0.bias",
        "1.1.weight",
        "1.1.bias",
        "1.1.running_mean",
        "1.1.running_var",
        "4.weight",
        "4.bias",
    ]
    assert tensors["4.weight"].shape == (10, 4 * 4 * 4)
    assert tensors["1.0.weight"].shape == (4, 4, 3, 3)


def test_output_shape():
    assert stackspec.parse(TINY).ir.output_shape == (10,)
    assert stackspec.parse("input 1x2x2\n").ir.output_shape == (1, 2, 2)


def test_model_hash_ignores_layout_and_training():
    a = stackspec.parse("input 3\ndense 4 relu | dropout 0.5\ntrain {\n  epochs 3\n}\n").ir
    b = stackspec.parse("# comment\n\ninput 3\n\ndense 4 relu\ndropout 0.5\n").ir
    assert a.model_hash() == b.model_hash()
    c = stackspec.parse("input 3\ndense 4 tanh\ndropout 0.5\n").ir
    d = stackspec.parse("input 3\ndense 5 relu\ndropout 0.5\n").ir
    assert len({a.model_hash(), c.model_hash(), d.model_hash()}) == 3


@pytest.mark.parametrize("path", ["specs/digits_cnn.stack", "specs/tiny_resnet.stack"])
def test_json_round_trip(path):
    ir = stackspec.load(path).ir
    assert json.loads(ir.dumps()) == ir.to_json()
    assert json.loads(json.dumps(ir.to_json())) == ir.to_json()


def test_ir_is_frozen():
    ir = stackspec.parse("input 3\ndense 2\n").ir
    with pytest.raises(AttributeError):
        ir.nodes = ()


def test_joins_keep_their_branches_numbered_inside():
    ir = stackspec.parse(every_layer_specs()["branches"]).ir
    doc = json.loads(ir.dumps())
    first = doc["nodes"][0]
    assert (first["op"], first["input_shape"], first["output_shape"]) == (
        "concat",
        [2, 6, 6],
        [7, 6, 6],
    )
    assert "body" not in first and len(first["branches"]) == 3
    assert [n["id"] for n in first["branches"][0]] == ["0.0.0", "0.0.1"]
    assert first["branches"][1] == []  # an identity branch
    inner = first["branches"][2][0]
    assert (inner["op"], inner["branches"][1][0]["op"]) == ("add", "residual")
    assert inner["branches"][1][0]["body"][0]["id"] == "0.2.0.1.0.0"
    # Execution order: a join, then its branches in turn; the weight keys follow the ids.
    ids = [n.id for n in ir.walk()]
    assert ids[:7] == ["0", "0.0.0", "0.0.1", "0.2.0", "0.2.0.0.0", "0.2.0.1.0", "0.2.0.1.0.0"]
    assert "0.2.0.1.0.0.weight" in ir.tensors() and "0.0.1.running_mean" in ir.tensors()
    assert first["param_count"] == sum(n.param_count for b in ir.nodes[0].branches for n in b)
    assert doc["param_count"] == ir.param_count == sum(n["param_count"] for n in doc["nodes"])
