"""Activations in training: their values come from inference.py, the backprop rules live here.

`FUNCTIONS[name](x, inplace=False, **params) -> (y, grad)` where grad(dy) -> dx; params are the
node's (`elu alpha=0.5`) or, after dense/conv2d, the registry's defaults (activation_params).
Every function preserves the dtype of x (float32 in models, float64 in gradient checks).

Ownership: a function never writes into its input x, except `inplace=True` callers (dense and
conv2d own the pre-activation buffer); grad may overwrite its argument dy, which its caller
never reuses (see layers.py).
"""

from __future__ import annotations

import math

import numpy as np

from ...layers import activation_params
from . import inference as F
from .inference import SELU_ALPHA, SELU_SCALE

# Names other modules and tests know these by.
sigmoid_values, softmax_values = F.sigmoid, F.softmax

__all__ = [
    "FUNCTIONS",
    "SELU_ALPHA",
    "SELU_SCALE",
    "after_layer",
    "sigmoid_values",
    "softmax_values",
]


def _identity(dy):
    return dy


def _linear(x, inplace=False):
    return x, _identity


def _relu(x, inplace=False):
    y = np.maximum(x, 0, out=x if inplace else None)  # F.relu, in the caller's buffer

    def grad(dy):
        # Multiplying by a boolean mask in place: no float temporary, one pass.
        return np.multiply(dy, y > 0, out=dy)

    return y, grad


def _sigmoid(x, inplace=False):
    y = F.sigmoid(x)

    def grad(dy):
        dy *= y * (1 - y)
        return dy

    return y, grad


def _tanh(x, inplace=False):
    y = np.tanh(x, out=x if inplace else None)  # F.tanh, in the caller's buffer

    def grad(dy):
        dy *= 1 - y * y
        return dy

    return y, grad


def _softmax(x, inplace=False):
    y = F.softmax(x)

    def grad(dy):
        # Jacobian-vector product of softmax: y * (dy - <dy, y>) along the last axis.
        dot = (dy * y).sum(axis=-1, keepdims=True)
        dy -= dot
        dy *= y
        return dy

    return y, grad


def _gelu(x, inplace=False):
    cdf = F.normal_cdf(x)
    y = x * cdf  # F.gelu, keeping Phi(x) for the gradient

    def grad(dy):
        pdf = np.exp(-0.5 * x * x) * (1 / math.sqrt(2 * math.pi))
        dy *= cdf + x * pdf
        return dy

    return y, grad


def _silu(x, inplace=False):
    s = F.sigmoid(x)
    y = x * s  # F.silu, keeping sigmoid(x) for the gradient

    def grad(dy):
        dy *= s * (1 + x * (1 - s))
        return dy

    return y, grad


def _scaled_elu(x, alpha, scale):
    y = F.scaled_elu(x, alpha, scale)

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
    y = F.leaky_relu(x, slope)

    def grad(dy):
        dy *= np.where(x > 0, 1.0, slope).astype(dy.dtype, copy=False)
        return dy

    return y, grad


def _softplus(x, inplace=False):
    y = F.softplus(x)

    def grad(dy):
        dy *= F.sigmoid(x)
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


def after_layer(name: str):
    """The training function of dense/conv2d's `activation`, with the registry's defaults."""
    fn, params = FUNCTIONS[name], activation_params(name)
    return lambda z, inplace=False: fn(z, inplace=inplace, **params)
