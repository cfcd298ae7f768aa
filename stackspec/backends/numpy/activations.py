"""Activation functions, used both as layers (`relu`) and by dense/conv2d (`dense 64 relu`).

`FUNCTIONS[name](x, **params) -> (y, grad)` where grad(dy) -> dx. There is one implementation
per activation; the layer functions at the bottom (named as the registry keys) wrap it. Every
function preserves the dtype of x (float32 in models, float64 in gradient checks): constants are
Python floats, which NumPy treats as "weak" and never upcasts with.

Ownership: a function never writes into its input x, except `inplace=True` callers (dense and
conv2d own the pre-activation buffer); grad may overwrite its argument dy, which its caller
never reuses (see layers.py).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.polynomial import chebyshev

from ...numerics import sigmoid_values, softmax_values

SELU_ALPHA = 1.6732632423543772
SELU_SCALE = 1.0507009873554805


def _identity(dy):
    return dy


def _linear(x, inplace=False):
    return x, _identity


def _relu(x, inplace=False):
    y = np.maximum(x, 0, out=x if inplace else None)

    def grad(dy):
        # Multiplying by a boolean mask in place: no float temporary, one pass.
        return np.multiply(dy, y > 0, out=dy)

    return y, grad


def _sigmoid(x, inplace=False):
    y = sigmoid_values(x)

    def grad(dy):
        dy *= y * (1 - y)
        return dy

    return y, grad


def _tanh(x, inplace=False):
    y = np.tanh(x, out=x if inplace else None)

    def grad(dy):
        dy *= 1 - y * y
        return dy

    return y, grad


def _softmax(x, inplace=False):
    y = softmax_values(x)

    def grad(dy):
        # Jacobian-vector product of softmax: y * (dy - <dy, y>) along the last axis.
        dot = (dy * y).sum(axis=-1, keepdims=True)
        dy -= dot
        dy *= y
        return dy

    return y, grad


def _erfcx_coefficients(degree: int = 28, k: float = 2.0) -> list[float]:
    """Chebyshev coefficients of erfcx(x) = exp(x^2) erfc(x) on x in [0, inf), in the variable
    t = 1/(1 + x/k) mapped to [-1, 1]. erfcx is smooth in t (even at x = inf, t = 0), so a
    degree-28 interpolant is accurate to ~1e-14; it is fitted here from math.erfc rather than
    copied from a table. Python floats, so evaluating in float32 stays float32."""

    def erfcx(u):
        t = np.maximum((u + 1) / 2, 1e-300)
        out = []
        for x in np.minimum(k * (1 / t - 1), 1e300):
            if x < 25:
                out.append(math.erfc(x) * math.exp(x * x))
            else:  # asymptotic series: erfc*exp(x^2) underflows/overflows separately here
                s = term = 1.0
                for n in range(1, 8):
                    term *= -(2 * n - 1) / (2 * x * x)
                    s += term
                out.append(s / (x * math.sqrt(math.pi)))
        return np.array(out)

    return [float(c) for c in chebyshev.chebinterpolate(erfcx, degree)]


_ERFCX = _erfcx_coefficients()
_ERFCX_K = 2.0


def _erfc_nonneg(a):
    """erfc(a) for a >= 0, with relative precision even where it is tiny."""
    u = 2 / (1 + a / _ERFCX_K) - 1
    # Clenshaw recurrence for sum c_k T_k(u), in the dtype of a.
    b1 = np.zeros_like(a)
    b2 = np.zeros_like(a)
    two_u = 2 * u
    for c in reversed(_ERFCX[1:]):
        b1, b2 = two_u * b1 - b2 + c, b1
    return (u * b1 - b2 + _ERFCX[0]) * np.exp(-a * a)


def normal_cdf(x):
    """Phi(x) = 0.5 * erfc(-x / sqrt(2)): NumPy has no erf, and scipy is not a dependency."""
    half_tail = 0.5 * _erfc_nonneg(np.abs(x) * (1 / math.sqrt(2)))
    return np.where(x < 0, half_tail, 1 - half_tail)


def _gelu(x, inplace=False):
    # Exact GELU, x * Phi(x), as torch's default (approximate="none") and Keras's
    # gelu(approximate=False).
    cdf = normal_cdf(x)
    y = x * cdf

    def grad(dy):
        pdf = np.exp(-0.5 * x * x) * (1 / math.sqrt(2 * math.pi))
        dy *= cdf + x * pdf
        return dy

    return y, grad


def _silu(x, inplace=False):
    s = sigmoid_values(x)
    y = x * s

    def grad(dy):
        dy *= s * (1 + x * (1 - s))
        return dy

    return y, grad


def _elu(x, alpha=1.0, scale=1.0, inplace=False):
    # expm1 only of the non-positive part, so large positive x cannot overflow.
    neg = np.expm1(np.minimum(x, 0)) * (alpha * scale)
    y = np.where(x > 0, x * scale, neg)

    def grad(dy):
        dy *= np.where(x > 0, scale, neg + alpha * scale)
        return dy

    return y, grad


def _selu(x, inplace=False):
    return _elu(x, alpha=SELU_ALPHA, scale=SELU_SCALE)


def _leaky_relu(x, slope=0.01, inplace=False):
    positive = x > 0
    y = np.where(positive, x, x * slope)

    def grad(dy):
        dy *= np.where(positive, 1.0, slope).astype(dy.dtype, copy=False)
        return dy

    return y, grad


def _softplus(x, inplace=False):
    y = np.logaddexp(0, x)  # log(1 + exp(x)) without overflow

    def grad(dy):
        dy *= sigmoid_values(x)
        return dy

    return y, grad


FUNCTIONS = {
    "linear": _linear,
    "relu": _relu,
    "sigmoid": _sigmoid,
    "tanh": _tanh,
    "softmax": _softmax,
    "gelu": _gelu,
    "silu": _silu,
    "elu": _elu,
    "selu": _selu,
    "leaky_relu": _leaky_relu,
    "softplus": _softplus,
}


def _layer(node):
    """An activation layer: its params (elu's alpha, leaky_relu's slope) are the keywords."""
    fn, params = FUNCTIONS[node.op], node.params

    def forward(x, training):
        return fn(x, **params)

    return forward


# The layer functions, named as the registry keys (dispatch is by name, see layers.py).


def linear(node, ctx):
    return _layer(node)


def relu(node, ctx):
    return _layer(node)


def sigmoid(node, ctx):
    return _layer(node)


def tanh(node, ctx):
    return _layer(node)


def softmax(node, ctx):
    return _layer(node)


def gelu(node, ctx):
    return _layer(node)


def silu(node, ctx):
    return _layer(node)


def elu(node, ctx):
    return _layer(node)


def selu(node, ctx):
    return _layer(node)


def leaky_relu(node, ctx):
    return _layer(node)


def softplus(node, ctx):
    return _layer(node)
