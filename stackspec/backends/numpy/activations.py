"""Activations: their evaluation functions (`relu_values(x)`) and their training functions.

`FUNCTIONS[name](x, inplace=False, **params) -> (y, grad)` where grad(dy) -> dx; params are the
node's (`elu alpha=0.5`) or, after dense/conv2d, the registry's defaults (activation_params).
The evaluation functions follow the rules of layers.py's (`compile --emit python` copies them);
sigmoid's and softmax's are numerics.py's, which predict and the metrics share.
Every function preserves the dtype of x (float32 in models, float64 in gradient checks).

Ownership: a function never writes into its input x, except `inplace=True` callers (dense and
conv2d own the pre-activation buffer); grad may overwrite its argument dy, which its caller
never reuses (see layers.py).
"""

from __future__ import annotations

import math

import numpy as np

from ...layers import activation_params
from ...numerics import sigmoid_values, softmax_values

__all__ = ["FUNCTIONS", "SELU_ALPHA", "SELU_SCALE", "after_layer"]

SELU_ALPHA = 1.6732632423543772
SELU_SCALE = 1.0507009873554805

# Chebyshev coefficients of erfcx(a) = exp(a^2) erfc(a) on a in [0, inf), in the variable
# u = 2 / (1 + a / ERFCX_K) - 1 on [-1, 1], where erfcx is smooth (even at a = inf): degree 28
# is accurate to ~1e-14. Fitted from math.erfc; tests/test_numpy_layers.py refits them.
ERFCX_K = 2.0
ERFCX = (
    0.37737609962585955, 0.4825091196506808, 0.12232459533097703, 0.017831149719276795,
    0.0003211736524942588, -0.00035039525647976216, -2.2438806506247502e-05,
    1.0537433119172769e-05, 5.671331131855764e-07, -4.297681577867315e-07, 5.104952259140559e-09,
    1.889969907856695e-08, -2.242756010170831e-09, -6.855259694500271e-10, 2.1487900271454502e-10,
    5.514719128722818e-12, -1.3478152667143166e-11, 2.0854627962384708e-12,
    4.4711180708063235e-13, -2.281276756356707e-13, 1.7068590928101647e-14, 1.027867882332289e-14,
    -5.2701195175092354e-15, -1.0446703031901527e-15, -9.234280746827687e-16,
    -1.3122534662357752e-15, -1.1426358996497897e-15, -1.2183477479757417e-15,
    -9.772490065150165e-16,
)  # fmt: skip
# float32 keeps the first 13: the rest sum to ~1e-9, below float32's 6e-8 rounding, and the
# series is half of a transformer's GELU forward time (benchmarks/bench_transformer.py).
ERFCX_FLOAT32_TERMS = 13


# --- evaluation -------------------------------------------------------------------------------


def linear_values(x):
    return x


def relu_values(x):
    return np.maximum(x, 0)


def tanh_values(x):
    return np.tanh(x)


def erfc_nonneg(a):
    """erfc(a) for a >= 0, with relative precision even where it is tiny: the ERFCX series
    by Clenshaw's recurrence, in the dtype of a."""
    u = 2 / (1 + a / ERFCX_K) - 1
    b1 = np.zeros_like(a)
    b2 = np.zeros_like(a)
    two_u = 2 * u
    terms = ERFCX_FLOAT32_TERMS if a.dtype == np.float32 else len(ERFCX)
    for c in reversed(ERFCX[1:terms]):
        b1, b2 = two_u * b1 - b2 + c, b1
    return (u * b1 - b2 + ERFCX[0]) * np.exp(-a * a)


def normal_cdf(x):
    """Phi(x) = erfc(-x / sqrt 2) / 2: NumPy has no erf, and scipy is not a dependency."""
    half_tail = 0.5 * erfc_nonneg(np.abs(x) * 0.7071067811865475)  # 1 / sqrt(2)
    return np.where(x < 0, half_tail, 1 - half_tail)


def gelu_values(x):
    # Exact GELU, x * Phi(x), as torch's default (approximate="none").
    return x * normal_cdf(x)


def silu_values(x):
    return x * sigmoid_values(x)


def scaled_elu(x, alpha, scale):
    # expm1 only of the non-positive part, so large positive x cannot overflow.
    neg = np.expm1(np.minimum(x, 0)) * (alpha * scale)
    return np.where(x > 0, x * scale, neg)


def elu_values(x, alpha):
    return scaled_elu(x, alpha, 1.0)


def selu_values(x):
    return scaled_elu(x, SELU_ALPHA, SELU_SCALE)


def leaky_relu_values(x, slope):
    return np.where(x > 0, x, x * slope)


def softplus_values(x):
    return np.logaddexp(0, x)  # log(1 + exp(x)) without overflow


def gelu_tanh_values(x):
    # GELU's tanh approximation (torch's approximate="tanh", Keras's approximate=True).
    return 0.5 * x * (1 + np.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)))


def mish_values(x):
    # softplus by logaddexp: no overflow for large x, where tanh(softplus(x)) is 1.
    return x * np.tanh(np.logaddexp(0, x))


def relu6_values(x):
    return np.clip(x, 0, 6)


def hard_sigmoid_values(x):
    return np.clip(x + 3, 0, 6) * (1 / 6)


def hard_swish_values(x):
    return x * (np.clip(x + 3, 0, 6) * (1 / 6))


def log_softmax_values(x):
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


# --- training ---------------------------------------------------------------------------------


def _identity(dy):
    return dy


def _linear(x, inplace=False):
    return x, _identity


def _relu(x, inplace=False):
    y = np.maximum(x, 0, out=x if inplace else None)  # relu_values, in the caller's buffer

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
    y = np.tanh(x, out=x if inplace else None)  # tanh_values, in the caller's buffer

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


def _gelu(x, inplace=False):
    cdf = normal_cdf(x)
    y = x * cdf  # gelu_values, keeping Phi(x) for the gradient

    def grad(dy):
        pdf = np.exp(-0.5 * x * x) * (1 / math.sqrt(2 * math.pi))
        dy *= cdf + x * pdf
        return dy

    return y, grad


def _silu(x, inplace=False):
    s = sigmoid_values(x)
    y = x * s  # silu_values, keeping sigmoid(x) for the gradient

    def grad(dy):
        dy *= s * (1 + x * (1 - s))
        return dy

    return y, grad


def _scaled_elu(x, alpha, scale):
    y = scaled_elu(x, alpha, scale)

    def grad(dy):
        # Where x <= 0, y = alpha*scale*(exp(x) - 1): its derivative is y + alpha*scale.
        dy *= np.where(x > 0, scale, y + alpha * scale)
        return dy

    return y, grad


def _elu(x, alpha, inplace=False):
    return _scaled_elu(x, alpha, 1.0)


def _selu(x, inplace=False):
    return _scaled_elu(x, SELU_ALPHA, SELU_SCALE)


def _leaky_relu(x, slope, inplace=False):
    y = leaky_relu_values(x, slope)

    def grad(dy):
        dy *= np.where(x > 0, 1.0, slope).astype(dy.dtype, copy=False)
        return dy

    return y, grad


def _softplus(x, inplace=False):
    y = softplus_values(x)

    def grad(dy):
        dy *= sigmoid_values(x)
        return dy

    return y, grad


def _gelu_tanh(x, inplace=False):
    c = 0.7978845608028654  # sqrt(2 / pi)
    t = np.tanh(c * (x + 0.044715 * x * x * x))
    y = 0.5 * x * (1 + t)  # gelu_tanh_values, keeping the tanh for the gradient

    def grad(dy):
        dy *= 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * (c * (1 + 3 * 0.044715 * x * x))
        return dy

    return y, grad


def _mish(x, inplace=False):
    t = np.tanh(np.logaddexp(0, x))
    y = x * t  # mish_values, keeping tanh(softplus(x)) for the gradient

    def grad(dy):
        # d softplus / dx = sigmoid(x); d tanh(u) / du = 1 - tanh(u)^2.
        dy *= t + x * (1 - t * t) * sigmoid_values(x)
        return dy

    return y, grad


def _clipped_linear(x, low, high, scale):
    """scale * clip(x, low, high) - the gradient is scale strictly inside, 0 outside (torch's
    hardtanh rule at the kinks)."""
    y = np.clip(x, low, high) * scale

    def grad(dy):
        dy *= ((x > low) & (x < high)) * scale
        return dy

    return y, grad


def _relu6(x, inplace=False):
    return _clipped_linear(x, 0, 6, 1.0)


def _hard_sigmoid(x, inplace=False):
    return _clipped_linear(x + 3, 0, 6, 1 / 6)


def _hard_swish(x, inplace=False):
    y = hard_swish_values(x)

    def grad(dy):
        # torch's hardswish_backward: 0 below -3, x/3 + 1/2 up to 3 (inclusive), 1 above.
        dy *= np.where(x < -3, 0.0, np.where(x <= 3, x * (1 / 3) + 0.5, 1.0)).astype(dy.dtype)
        return dy

    return y, grad


def _log_softmax(x, inplace=False):
    y = log_softmax_values(x)

    def grad(dy):
        # dx = dy - softmax(x) * sum(dy) along the last axis.
        total = dy.sum(axis=-1, keepdims=True)
        dy -= np.exp(y) * total
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
    "gelu_tanh": _gelu_tanh,
    "mish": _mish,
    "relu6": _relu6,
    "hard_sigmoid": _hard_sigmoid,
    "hard_swish": _hard_swish,
    "log_softmax": _log_softmax,
}


def after_layer(name: str):
    """The training function of dense/conv2d's `activation`, with the registry's defaults."""
    fn, params = FUNCTIONS[name], activation_params(name)
    return lambda z, inplace=False: fn(z, inplace=inplace, **params)
