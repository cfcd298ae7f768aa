"""numba twins of kernels.py's NumPy passes (the optional `step` extra): same names, same
float32 operations in the same order, fused into one or two passes over the big arrays.

Why numba: the red-wine step spends ~40 % of its non-GEMM time in Adam's twelve NumPy passes
over 2.1M parameters; fused and vectorised here they take a quarter of that. numba installs
from the registry as wheels (llvmlite brings LLVM), compiles these functions on first use and
caches them next to this file. `error_model="numpy"` lets LLVM vectorise the division (no
ZeroDivisionError check); fastmath stays off, so nothing is contracted or reassociated and the
results are NumPy's bits.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_jit = njit(cache=True, nogil=True, error_model="numpy")


@_jit
def adam(p, g, m, v, tmp, b1c, b2, b2c, eps, step, decay):
    for i in range(p.size):
        gi = g[i]
        mi = m[i] + (gi - m[i]) * b1c
        vi = v[i] * b2 + (gi * gi) * b2c
        m[i] = mi
        v[i] = vi
        p[i] = p[i] * decay - mi / (np.sqrt(vi) + eps) * step


@_jit
def bias_relu(z, bias):
    rows = z.reshape((z.size // bias.size, bias.size))
    for r in range(rows.shape[0]):
        for j in range(bias.size):
            v = rows[r, j] + bias[j]
            rows[r, j] = v if v > 0 or v != v else 0  # np.maximum: NaN stays NaN
    return z


@_jit
def relu_grad(dy, y):
    flat, out = y.reshape(-1), dy.reshape(-1)
    for i in range(flat.size):
        out[i] = out[i] * (1 if flat[i] > 0 else 0)
    return dy


@_jit
def dropout(x, bits, threshold, scale):
    flat = x.reshape(-1)
    y, factor = np.empty_like(flat), np.empty_like(flat)
    for i in range(flat.size):
        f = scale if bits[i] < threshold else 0
        factor[i] = f
        y[i] = flat[i] * f
    return y.reshape(x.shape), factor.reshape(x.shape)


# The per-feature loops below run down the rows with the features innermost, as NumPy's
# axis-0 reductions do: the same order of additions, and contiguous, vectorisable inner loops.
# A division by the int n is done in float64 and rounded once to float32, which gives the
# correctly rounded float32 quotient, as NumPy's float32 division does.


@_jit
def center(x):
    n, f = x.shape
    total = np.zeros(f, x.dtype)
    for r in range(n):
        for j in range(f):
            total[j] += x[r, j]
    mean = np.empty_like(total)
    for j in range(f):
        mean[j] = total[j] / n
    xc = np.empty_like(x)
    squares = np.zeros(f, x.dtype)
    for r in range(n):
        for j in range(f):
            d = x[r, j] - mean[j]
            xc[r, j] = d
            squares[j] += d * d
    var = np.empty_like(squares)
    for j in range(f):
        var[j] = squares[j] / n
    return mean, xc, var


@_jit
def scale_shift(xc, scale, shift):
    n, f = xc.shape
    y = np.empty_like(xc)
    if shift is None:
        for r in range(n):
            for j in range(f):
                y[r, j] = xc[r, j] * scale[j]
        return y
    # One pass; still two roundings, as NumPy's product then sum: numba lets LLVM fuse a
    # multiply and an add (FMA) only under fastmath, which these kernels never use.
    for r in range(n):
        for j in range(f):
            y[r, j] = xc[r, j] * scale[j] + shift[j]
    return y


@_jit
def column_sums(dy, xc):
    n, f = dy.shape
    sum_dy, sum_dy_xc = np.zeros(f, dy.dtype), np.zeros(f, dy.dtype)
    for r in range(n):
        for j in range(f):
            sum_dy[j] += dy[r, j]
            sum_dy_xc[j] += dy[r, j] * xc[r, j]
    return sum_dy, sum_dy_xc


@_jit
def batchnorm_grad(dy, scale, xc, k2, k3):
    n, f = dy.shape
    for r in range(n):
        for j in range(f):
            dy[r, j] = dy[r, j] * scale[j] + (xc[r, j] * k2[j] + k3[j])
    return dy
