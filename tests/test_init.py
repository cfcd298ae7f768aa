"""Initial weights: every tensor, float32, deterministic per seed, Keras's distributions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import SPECS

import stackspec
from stackspec.layers import INITIALIZERS as REGISTRY_INITIALIZERS
from stackspec.layers.init import INITIALIZERS, TRUNCATED_STD, initial_weights


def test_every_registry_initializer_exists():
    assert set(REGISTRY_INITIALIZERS) | {"ones"} <= set(INITIALIZERS)


@pytest.mark.parametrize("name", ["red_wine", "tiny_resnet", "digits_cnn", "residual_mlp"])
def test_every_tensor_float32_with_its_shape(name):
    ir = stackspec.load(SPECS / f"{name}.stack", overrides=None).ir
    weights = initial_weights(ir, 0)
    assert list(weights) == list(ir.tensors())
    for key, w in ir.tensors().items():
        assert weights[key].dtype == np.float32 and weights[key].shape == w.shape, key


def test_deterministic_per_seed_and_different_across_seeds():
    ir = stackspec.load(SPECS / "wine_blocks.stack", overrides={"width": "32"}).ir
    a, b, c = initial_weights(ir, 3), initial_weights(ir, 3), initial_weights(ir, 4)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["0.weight"], c["0.weight"])


def test_zeros_and_ones_where_they_should_be():
    text = "input 4\nbatchnorm\ndense 8 relu\nlayernorm\ndense 3 init=zeros\n"
    w = initial_weights(stackspec.parse(text).ir, 0)
    for key in ("0.weight", "0.running_var", "2.weight"):
        np.testing.assert_array_equal(w[key], 1)
    for key in ("0.bias", "0.running_mean", "1.bias", "2.bias", "3.weight", "3.bias"):
        np.testing.assert_array_equal(w[key], 0)


# (init, fan_in, fan_out) for a dense 400 -> 600 layer; conv fans include the kernel area.
DENSE_IN, DENSE_OUT = 400, 600
EXPECTED = {
    "glorot_uniform": ("uniform", math.sqrt(6 / (DENSE_IN + DENSE_OUT))),
    "he_uniform": ("uniform", math.sqrt(6 / DENSE_IN)),
    "glorot_normal": ("normal", math.sqrt(2 / (DENSE_IN + DENSE_OUT))),
    "he_normal": ("normal", math.sqrt(2 / DENSE_IN)),
    "lecun_normal": ("normal", math.sqrt(1 / DENSE_IN)),
}


@pytest.mark.parametrize("init", list(EXPECTED))
def test_distribution(init):
    ir = stackspec.parse(f"input {DENSE_IN}\ndense {DENSE_OUT} init={init}\n").ir
    w = initial_weights(ir, 0)["0.weight"].astype(np.float64)
    kind, scale = EXPECTED[init]
    if kind == "uniform":
        assert np.abs(w).max() <= scale
        assert np.abs(w).max() > 0.99 * scale
        assert w.std() == pytest.approx(scale / math.sqrt(3), rel=0.01)
    else:
        # Keras: truncated at 2 std of the underlying normal, whose std is scale / 0.8796...,
        # so the truncated samples have standard deviation `scale`.
        cut = 2 * scale / TRUNCATED_STD
        assert np.abs(w).max() <= cut
        assert np.abs(w).max() > 0.99 * cut
        assert w.std() == pytest.approx(scale, rel=0.01)
    assert abs(w.mean()) < 0.01 * scale


def test_conv_fans_include_the_kernel_area():
    ir = stackspec.parse("input 8x10x10\nconv2d 16 kernel=3 init=he_uniform\n").ir
    w = initial_weights(ir, 0)["0.weight"]
    limit = math.sqrt(6 / (8 * 3 * 3))
    assert np.abs(w).max() <= limit and np.abs(w).max() > 0.95 * limit


def test_prelu_slopes_start_at_a_quarter():
    ir = stackspec.parse("input 3x4x4\nprelu\nflatten\nprelu\n").ir
    w = initial_weights(ir, 0)
    assert w["0.weight"].shape == (3,) and w["2.weight"].shape == (48,)
    assert (w["0.weight"] == 0.25).all() and (w["2.weight"] == 0.25).all()
