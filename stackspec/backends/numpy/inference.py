"""Evaluation mode: one pure function per registry key, `kind(x, **arguments) -> y`.

The NumPy backend evaluates a model with these functions (layers.py binds their arguments from
the IR node), and `compile --emit python` copies their source into the standalone module, so
the two cannot drift apart. Hence the rules of this module: it imports numpy as `np` and
nothing else (stackspec least of all), module-level names are constants or functions, and every
function keeps the dtype of x (constants are Python floats, which NumPy never upcasts with).

A parameter that defaults to None is a tensor the node may lack (dense with bias=false);
`padding` of conv2d is (top, bottom, left, right).
"""

from __future__ import annotations

import numpy as np

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


# --- layers with weights ----------------------------------------------------------------------


def dense(x, weight, bias=None):
    # W is (units, F) C-contiguous, so W.T is a transposed BLAS operand, not a copy.
    y = x @ weight.T
    if bias is not None:
        y += bias
    return y


def pad(x, top, bottom, left, right, value=0.0):
    """(N, C, H, W) padded on H and W; x itself when there is nothing to pad."""
    if top == bottom == left == right == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=value)


def windows(xp, kernel, stride):
    """(N, C, H', W', kh, kw) view (no copy) of the windows of a padded batch."""
    (kh, kw), (sh, sw) = kernel, stride
    v = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))
    return v[:, :, ::sh, ::sw]


def im2col(x, kernel, stride, padding):
    """The (N*H'*W', C*kh*kw) matrix of input windows, rows in output-pixel order and columns
    in the (C, kh, kw) order of a conv weight; and the output size (N, H', W')."""
    win = windows(pad(x, *padding), kernel, stride)
    n, c, ho, wo, kh, kw = win.shape
    return win.transpose(0, 2, 3, 1, 4, 5).reshape(-1, c * kh * kw), (n, ho, wo)


def conv2d(x, weight, stride, padding, bias=None):
    """Cross-correlation of (N, C, H, W) with (F, C, kh, kw) weights."""
    cols, size = im2col(x, weight.shape[2:], stride, padding)
    return conv_cols(cols, size, weight, bias)


def conv_cols(cols, size, weight, bias=None):
    """The convolution from its im2col matrix: one GEMM, no weight copy; (N, F, H', W')."""
    z = cols @ weight.reshape(len(weight), -1).T
    if bias is not None:
        z += bias
    return np.ascontiguousarray(z.reshape(*size, -1).transpose(0, 3, 1, 2))


def batchnorm(x, running_mean, running_var, eps, weight=None, bias=None):
    """The running statistics, per feature (N, F) or per channel (N, C, H, W)."""
    shape = (1, -1) + (1,) * (x.ndim - 2)
    scale = 1 / np.sqrt(running_var.reshape(shape) + eps)
    if weight is not None:
        scale = scale * weight.reshape(shape)
    y = (x - running_mean.reshape(shape)) * scale
    if bias is not None:
        y += bias.reshape(shape)
    return y


def layernorm(x, eps, weight=None, bias=None):
    xc = x - x.mean(axis=-1, keepdims=True)
    y = xc * (1 / np.sqrt(np.mean(xc * xc, axis=-1, keepdims=True) + eps))
    return y if weight is None else y * weight + bias


# --- layers without weights -------------------------------------------------------------------


def maxpool2d(x, size, stride, padding):
    xp = pad(x, padding, padding, padding, padding, value=-np.inf)
    return windows(xp, size, stride).max(axis=(4, 5))


def avgpool2d(x, size, stride, padding):
    # The mean over the real pixels of each window: padded zeros are not counted.
    p = (padding,) * 4
    ones = np.ones((1, 1) + x.shape[2:], x.dtype)
    count = windows(pad(ones, *p), size, stride).sum(axis=(4, 5))
    return windows(pad(x, *p), size, stride).sum(axis=(4, 5)) / count


def globalavgpool(x):
    return x.mean(axis=(2, 3))


def flatten(x):
    return x.reshape(len(x), -1)


def dropout(x):
    # Inverted dropout scales in training, so evaluation is the identity.
    return x


# --- activations ------------------------------------------------------------------------------


def linear(x):
    return x


def relu(x):
    return np.maximum(x, 0)


def sigmoid(x):
    # Stable for any x: exp only ever sees -|x|, and the negative half uses e/(1+e) so tiny
    # values keep their relative precision (0.5+0.5*tanh(x/2) would round them away).
    e = np.exp(-np.abs(x))
    r = 1 / (1 + e)
    return np.where(x >= 0, r, e * r)


def tanh(x):
    return np.tanh(x)


def softmax(x):
    """Over the last axis, shifted by the maximum so exp never overflows."""
    z = x - x.max(axis=-1, keepdims=True)
    y = np.exp(z, out=z)
    y /= y.sum(axis=-1, keepdims=True)
    return y


def erfc_nonneg(a):
    """erfc(a) for a >= 0, with relative precision even where it is tiny: the ERFCX series
    by Clenshaw's recurrence, in the dtype of a."""
    u = 2 / (1 + a / ERFCX_K) - 1
    b1 = np.zeros_like(a)
    b2 = np.zeros_like(a)
    two_u = 2 * u
    for c in reversed(ERFCX[1:]):
        b1, b2 = two_u * b1 - b2 + c, b1
    return (u * b1 - b2 + ERFCX[0]) * np.exp(-a * a)


def normal_cdf(x):
    """Phi(x) = erfc(-x / sqrt 2) / 2: NumPy has no erf, and scipy is not a dependency."""
    half_tail = 0.5 * erfc_nonneg(np.abs(x) * 0.7071067811865475)  # 1 / sqrt(2)
    return np.where(x < 0, half_tail, 1 - half_tail)


def gelu(x):
    # Exact GELU, x * Phi(x), as torch's default (approximate="none").
    return x * normal_cdf(x)


def silu(x):
    return x * sigmoid(x)


def scaled_elu(x, alpha, scale):
    # expm1 only of the non-positive part, so large positive x cannot overflow.
    neg = np.expm1(np.minimum(x, 0)) * (alpha * scale)
    return np.where(x > 0, x * scale, neg)


def elu(x, alpha):
    return scaled_elu(x, alpha, 1.0)


def selu(x):
    return scaled_elu(x, SELU_ALPHA, SELU_SCALE)


def leaky_relu(x, slope):
    return np.where(x > 0, x, x * slope)


def softplus(x):
    return np.logaddexp(0, x)  # log(1 + exp(x)) without overflow
