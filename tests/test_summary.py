"""`stackspec summary` / Spec.summary(): a Keras-like table with totals and weight memory."""

from __future__ import annotations

import pytest
from conftest import EXAMPLES, example_spec

import stackspec
from stackspec.compiler.summary import byte_size, summary
from stackspec.diagnostics import example_shape


def test_red_wine_summary():
    spec = stackspec.load("specs/red_wine.stack")
    text = summary(spec.ir, "specs/red_wine.stack")
    lines = text.splitlines()
    assert lines[0] == "Model: specs/red_wine.stack"
    assert lines[2].split() == ["Layer", "Output", "shape", "Params", "State"]
    assert lines[4] == "input (11)"
    rows = [line.split() for line in lines[5:15]]
    assert rows[0] == ["0", "dense", "1024", "relu", "(1024)", "12,288", "0"]
    assert rows[1] == ["1", "dropout", "0.3", "(1024)", "0", "0"]
    assert rows[2] == ["2", "batchnorm", "(1024)", "2,048", "2,048"]
    assert rows[3] == ["3", "dense", "1024", "relu", "(1024)", "1,049,600", "0"]
    assert rows[9] == ["9", "dense", "1", "(1)", "1,025", "0"]
    assert lines[-5:] == [
        "Total params: 2,124,801 (8.11 MiB)",
        "Trainable params: 2,118,657 (8.08 MiB)",
        "Non-trainable params: 6,144 (24.00 KiB)",
        "Weight memory: 8.11 MiB (float32)",
        "Activation memory: about 18 MiB per training batch of 256",
    ]


def test_columns_line_up():
    text = stackspec.load("specs/tiny_resnet.stack").summary()
    table = [line for line in text.splitlines() if line and line[0] in "0123456789 "]
    ends = {len(line) for line in table}
    assert len(ends) == 1  # right-aligned numbers end in the same column


def test_residual_body_is_indented_and_not_counted_twice():
    text = stackspec.parse("input 4\nresidual {\n  dense 4\n  batchnorm\n}\n").summary()
    lines = text.splitlines()
    body = [line for line in lines if line.startswith("  0.")]
    assert [line.split()[:2] for line in body] == [["0.0", "dense"], ["0.1", "batchnorm"]]
    assert [line for line in lines if line.startswith("0 ")][0].split()[-2:] == ["0", "0"]
    assert "Trainable params: 28 (112 B)" in lines
    assert "Non-trainable params: 8 (32 B)" in lines


def test_spec_summary_has_no_title():
    spec = stackspec.parse("input 3\ndense 2\n")
    assert spec.summary() == summary(spec.ir)
    assert not spec.summary().startswith("Model:")


def test_describe_layers():
    text = stackspec.parse(
        "input 1x8x8\nconv2d 2 tanh\nmaxpool2d 2x3\navgpool2d\nflatten\ndense 3\nleaky_relu\n"
    ).summary()
    rows = [line for line in text.splitlines() if line[:1].isdigit()]
    names = [" ".join(line.split()[1:3]) for line in rows]
    assert names == [
        "conv2d 2",
        "maxpool2d 2x3",
        "avgpool2d 2",  # a square size as the spec writes it
        "flatten (2)",
        "dense 3",
        "leaky_relu (3)",
    ]
    assert "conv2d 2 tanh" in text


def test_every_layer_has_a_row_with_its_shape_and_counts():
    for op, call, shape in EXAMPLES:
        ir = stackspec.parse(example_spec(call, shape)).ir
        (node,) = ir.nodes
        (row,) = [line for line in summary(ir).splitlines() if line.startswith("0 ")]
        words = row.split()
        assert words[1] == op, call
        assert example_shape(node.output_shape) in row, call
        assert words[-2:] == [f"{node.param_count:,}", f"{node.state_count:,}"], call


@pytest.mark.parametrize(
    ("values", "text"),
    [(0, "0 B"), (100, "400 B"), (256, "1.00 KiB"), (3 * 2**18, "3.00 MiB"), (2**30, "4.00 GiB")],
)
def test_memory_units(values, text):
    assert byte_size(values) == text


def test_branches_are_indented_under_their_join_with_their_shapes():
    text = stackspec.parse(
        "input 4\nconcat {\n  branch { dense 3 }\n  branch {\n    dense 2\n    relu\n  }\n}\n"
        "add {\n  branch { dense 5 }\n  branch { dense 5 }\n}\n"
    ).summary()
    lines = text.splitlines()
    rows = [line.split() for line in lines if line.lstrip()[:1].isdigit()]
    assert rows[:6] == [
        ["0", "concat", "(5)", "0", "0"],
        ["0.0", "branch", "(3)"],
        ["0.0.0", "dense", "3", "(3)", "15", "0"],
        ["0.1", "branch", "(2)"],
        ["0.1.0", "dense", "2", "(2)", "10", "0"],
        ["0.1.1", "relu", "(2)", "0", "0"],
    ]
    assert "Trainable params: 85 (340 B)" in lines  # 15 + 10 + 2 * 30, counted once
