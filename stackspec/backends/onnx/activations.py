"""Activations as ONNX ops: `{key}(g, x, **params) -> y`, the params being the node's (`elu
alpha=0.5`) or, after dense/conv2d, the registry's defaults. Each is the standard op where
opset 17 has one, else its definition in primitive ops (GELU is an op from opset 20, Mish
from 18, SiLU from 24)."""

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


def gelu_tanh(g, x):
    # x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))) / 2: Gelu(approximate="tanh") is opset 20.
    cube = g.op("Mul", g.op("Mul", x, x), x)
    inner = g.op("Add", x, g.op("Mul", cube, g.const("c", 0.044715)))
    t = g.op("Tanh", g.op("Mul", inner, g.const("sqrt_2_over_pi", math.sqrt(2 / math.pi))))
    half_x = g.op("Mul", x, g.const("half", 0.5))
    return g.op("Mul", half_x, g.op("Add", t, g.const("one", 1.0)))


def mish(g, x):
    # x * tanh(softplus(x)); the Mish op is opset 18.
    return g.op("Mul", x, g.op("Tanh", g.op("Softplus", x)))


def relu6(g, x):
    return g.op("Clip", x, g.const("zero", 0.0), g.const("six", 6.0))


def hard_sigmoid(g, x):
    # max(0, min(1, x/6 + 1/2)) = relu6(x + 3) / 6 (ONNX's default alpha is 0.2, Keras 2's).
    return g.op("HardSigmoid", x, alpha=1 / 6, beta=0.5)


def hard_swish(g, x):
    return g.op("HardSwish", x)  # x * max(0, min(1, x/6 + 1/2)), opset 14


def log_softmax(g, x):
    return g.op("LogSoftmax", x, axis=-1)
