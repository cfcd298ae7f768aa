"""The training step's big elementwise passes, as plain NumPy: the fallback of compiled.py.

Each function here has a twin of the same name and signature in compiled.py (numba, the
optional `step` extra), which does the same float32 operations in the same order in one or two
passes instead of several, so both give the same bits (tests/test_numpy_kernels.py checks it).
Layers and the optimizer call them through `ctx.kernels` / `Optimizer.kernels`, which NumpyModel
points at compiled.py once a run has done enough work to repay loading numba (`use_compiled`).
Constants come in as np.float32, so that neither side computes in float64.
"""

from __future__ import annotations

import os

import numpy as np

# Loading numba and its cached kernels takes ~0.6-1 s; the NumPy passes cost ~2 ns per parameter
# and step more than the compiled ones. So a run switches once steps x parameters passes this
# (about 190 steps of the red-wine model), and short runs never pay for the import.
COMPILE_AFTER = 4e8


def adam(p, g, m, v, tmp, b1c, b2, b2c, eps, step, decay):
    """Adam's update over flat float32 arrays (optimizers.adam has the formulas)."""
    if decay != 1:
        p *= decay
    # m = b1*m + (1-b1)*g, written as torch's lerp: m + (1-b1)*(g - m).
    np.subtract(g, m, out=tmp)
    tmp *= b1c
    m += tmp
    v *= b2
    np.square(g, out=tmp)
    tmp *= b2c
    v += tmp
    np.sqrt(v, out=tmp)
    tmp += eps
    np.divide(m, tmp, out=tmp)
    tmp *= step
    p -= tmp


def bias_relu(z, bias):
    """relu(z + bias) in z's buffer, for dense's pre-activation z of any rank."""
    z += bias
    return np.maximum(z, 0, out=z)


def relu_grad(dy, y):
    """dy where y > 0, else dy * 0 (so NaN stays NaN), in dy's buffer."""
    return np.multiply(dy, y > 0, out=dy)


def dropout(x, bits, threshold, scale):
    """(y, factor): factor is scale where the flat uint32 bits (x.size of them, or more) fall
    below threshold, else 0, and y = x * factor."""
    keep = (bits[: x.size] < threshold).reshape(x.shape)
    factor = np.multiply(keep, scale, dtype=x.dtype)
    return x * factor, factor


# Batchnorm's passes, per feature of (N, F) and (N, T, F) or per channel of (N, C, H, W)
# (compiled.py's twins are for (N, F) only): the per-feature vectors are flat, of shape (F,).


def feature_axes(ndim):
    """(reduction axes, broadcast shape of a per-feature vector) for a batch of `ndim` axes:
    (N, F) and (N, T, F) keep their features last (Keras's axis=-1, a sequence's statistics over
    the batch and time), (N, C, H, W) its channels at axis 1."""
    if ndim == 4:
        return (0, 2, 3), (1, -1, 1, 1)
    return tuple(range(ndim - 1)), (1,) * (ndim - 1) + (-1,)


def _axes(x):
    return feature_axes(x.ndim)


def center(x):
    """(mean, xc, var): xc = x - mean, var the biased variance."""
    axes, shape = _axes(x)
    mean = x.mean(axis=axes)
    xc = x - mean.reshape(shape)
    var = np.mean(np.square(xc), axis=axes)
    return mean, xc, var


def scale_shift(xc, scale, shift):
    """xc * scale + shift (shift may be None)."""
    shape = _axes(xc)[1]
    y = xc * scale.reshape(shape)
    if shift is not None:
        y += shift.reshape(shape)
    return y


def column_sums(dy, xc):
    """(sum of dy, sum of dy * xc)."""
    axes = _axes(dy)[0]
    return dy.sum(axis=axes), np.sum(dy * xc, axis=axes)


def batchnorm_grad(dy, scale, xc, k2, k3):
    """dy * scale + (xc * k2 + k3), in dy's buffer."""
    shape = _axes(dy)[1]
    tmp = xc * k2.reshape(shape)
    tmp += k3.reshape(shape)
    dy *= scale.reshape(shape)
    dy += tmp
    return dy


def compiled():
    """compiled.py, or None where numba is missing or STACKSPEC_KERNELS=numpy says not to."""
    if os.environ.get("STACKSPEC_KERNELS", "auto") == "numpy":
        return None
    try:
        from . import compiled as module
    except (ImportError, RuntimeError):  # RuntimeError: numba found nowhere to cache them
        return None
    return module


def compile_now() -> bool:
    """STACKSPEC_KERNELS=numba: compiled kernels from the first step (benchmarks, tests)."""
    return os.environ.get("STACKSPEC_KERNELS", "auto") == "numba"
