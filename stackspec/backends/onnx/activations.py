"""Activations as ONNX ops: `{key}(g, x, **params) -> y`, the params being the node's (`elu
alpha=0.5`) or, after dense/conv2d, the registry's defaults. Each is the standard op where
opset 17 has one, else its definition in primitive ops (GELU is an op from opset 20, SiLU
from 24)."""

from __future__ import annotations

import math

# The NumPy backend's constants (tests/test_onnx.py checks they are equal), written here so
# that exporting never imports that backend.
SELU_ALPHA = 1.6732632423543772
SELU_SCALE = 1.0507009873554805


def linear(g, x):
    return g.op("Identity", x)


def relu(g, x):
    return g.op("Relu", x)


def sigmoid(g, x):
    return g.op("Sigmoid", x)


def tanh(g, x):
    return g.op("Tanh", x)


def softmax(g, x):
    # Opset 13+ Softmax normalizes along `axis` alone (before 13 it flattened the trailing axes).
    return g.op("Softmax", x, axis=-1)


def gelu(g, x):
    # Exact GELU, x * Phi(x) = x * (1 + erf(x / sqrt 2)) / 2, as every backend computes it.
    scaled = g.op("Mul", x, g.const("inv_sqrt2", 1 / math.sqrt(2)))
    cdf = g.op("Add", g.op("Erf", scaled), g.const("one", 1.0))
    return g.op("Mul", g.op("Mul", x, cdf), g.const("half", 0.5))


def silu(g, x):
    return g.op("Mul", x, g.op("Sigmoid", x))


def elu(g, x, alpha):
    return g.op("Elu", x, alpha=float(alpha))


def selu(g, x):
    # ONNX's default constants are these rounded to float32; given explicitly, they are ours.
    return g.op("Selu", x, alpha=SELU_ALPHA, gamma=SELU_SCALE)


def leaky_relu(g, x, slope):
    return g.op("LeakyRelu", x, alpha=float(slope))


def softplus(g, x):
    return g.op("Softplus", x)
