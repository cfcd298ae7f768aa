"""Sequences (T, F) (LANGUAGE.md §13): a 2-D input is a sequence, CSV rows fill it row-major,
and `dense` acts on its last axis, one time step at a time. The layers' generic checks (shapes,
gradients, parity, export) come from their registry examples; this file holds what those do not
say."""

from __future__ import annotations

import numpy as np
import pytest

import stackspec
from stackspec.training.data import read_csv


def test_a_2d_input_is_a_sequence_and_dense_acts_on_its_last_axis():
    spec = stackspec.parse("input 5x3\ndense 4 tanh\n")
    assert spec.ir.output_shape == (5, 4)
    assert spec.ir.nodes[0].weights["weight"].shape == (4, 3)  # Keras: 3*4 + 4 parameters
    model = spec.compile("numpy")
    x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype(np.float32)
    w = model.get_weights()
    step = np.tanh(x.reshape(-1, 3) @ w["0.weight"].T + w["0.bias"]).reshape(2, 5, 4)
    np.testing.assert_allclose(model.predict(x), step, rtol=1e-6, atol=1e-6)


def test_image_layers_refuse_a_sequence_and_say_what_to_use():
    with pytest.raises(stackspec.SpecError) as e:
        stackspec.parse("input 20x8\nconv2d 4\n")
    [d] = e.value.diagnostics
    assert d.code == "E301" and "conv1d" in d.hint and "1x20x8" in d.hint


def test_csv_rows_fill_a_sequence_time_step_by_time_step(tmp_path):
    ir = stackspec.parse("input 2x3\nflatten\ndense 1\n").ir
    path = tmp_path / "d.csv"
    path.write_text("a,b,c,t,d,e,f\n1,2,3,9,4,5,6\n")
    ds = read_csv(path, ir, "t")
    assert ds.X.shape == (1, 2, 3) and ds.X[0].tolist() == [[1, 2, 3], [4, 5, 6]]


def test_keras_refuses_a_strided_dilated_conv1d_by_name(tmp_path):
    from click.testing import CliRunner

    from stackspec.cli import main

    spec = tmp_path / "m.stack"
    spec.write_text("input 12x3\nconv1d 2 stride=2 dilation=2\n")
    result = CliRunner().invoke(main, ["compile", str(spec), "--emit", "keras"])
    assert result.exit_code == 1
    assert "layer 0: conv1d" in result.output and "dilation" in result.output
