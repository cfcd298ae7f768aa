"""Image layers on (N, C, H, W) batches: conv2d, maxpool2d, avgpool2d, globalavgpool.

Everything is vectorised: windows come from `sliding_window_view` (a view, no copy), conv2d is
one GEMM over the im2col matrix, and the backward passes scatter window gradients back with one
strided add per kernel offset (kh*kw adds, never a loop over pixels).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ...layers import conv_padding
from .activations import FUNCTIONS


def _windows(xp, kh, kw, sh, sw, ho, wo):
    """(N, C, ho, wo, kh, kw) view of the padded input's windows."""
    v = sliding_window_view(xp, (kh, kw), axis=(2, 3))
    return v[:, :, : (ho - 1) * sh + 1 : sh, : (wo - 1) * sw + 1 : sw]


def _scatter(dxp, dwin, kh, kw, sh, sw, ho, wo):
    """Adds window gradients dwin (N, C, ho, wo, kh, kw) into dxp (N, C, Hp, Wp): the adjoint
    of `_windows`. Overlapping windows (stride < kernel) accumulate."""
    for i in range(kh):
        for j in range(kw):
            dxp[:, :, i : i + (ho - 1) * sh + 1 : sh, j : j + (wo - 1) * sw + 1 : sw] += dwin[
                ..., i, j
            ]
    return dxp


def _pad(x, top, bottom, left, right, value=0.0):
    if top == bottom == left == right == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=value)


def _crop(dxp, top, left, h, w):
    return dxp[:, :, top : top + h, left : left + w]


def conv2d(node, ctx):
    p = node.params
    (c, h, w), (f, ho, wo) = node.input_shape, node.output_shape
    (kh, kw), (sh, sw) = p["kernel"], p["stride"]
    top, bottom, left, right = conv_padding(p)
    weight, gweight = ctx.params[f"{node.id}.weight"], ctx.grad(f"{node.id}.weight")
    bias = ctx.params.get(f"{node.id}.bias") if p["bias"] else None
    gbias = ctx.grad(f"{node.id}.bias") if p["bias"] else None
    activation = FUNCTIONS[p["activation"]]
    k = c * kh * kw

    def forward(x, training):
        n = x.shape[0]
        xp = _pad(x, top, bottom, left, right)
        # im2col in (N, ho, wo, C, kh, kw) order: rows are output pixels, columns match the
        # (filters, C, kh, kw) weight layout, so the product needs no weight copy.
        cols = _windows(xp, kh, kw, sh, sw, ho, wo).transpose(0, 2, 3, 1, 4, 5).reshape(-1, k)
        wmat = weight.reshape(f, k)
        z = cols @ wmat.T
        if bias is not None:
            z += bias
        z = z.reshape(n, ho, wo, f).transpose(0, 3, 1, 2)
        y, act_grad = activation(np.ascontiguousarray(z), inplace=True)

        def backprop(dy):
            dz = act_grad(dy).transpose(0, 2, 3, 1).reshape(-1, f)
            np.matmul(dz.T, cols, out=gweight.reshape(f, k))
            if gbias is not None:
                np.sum(dz, axis=0, out=gbias)
            dcols = (dz @ wmat).reshape(n, ho, wo, c, kh, kw).transpose(0, 3, 1, 2, 4, 5)
            dxp = np.zeros(xp.shape, dtype=dcols.dtype)
            _scatter(dxp, dcols, kh, kw, sh, sw, ho, wo)
            return _crop(dxp, top, left, h, w)

        return y, backprop

    return forward


def maxpool2d(node, ctx):
    (kh, kw), (sh, sw), pad = node.params["size"], node.params["stride"], node.params["padding"]
    (_, h, w), (_, ho, wo) = node.input_shape, node.output_shape

    def forward(x, training):
        xp = _pad(x, pad, pad, pad, pad, value=-np.inf)
        win = _windows(xp, kh, kw, sh, sw, ho, wo).reshape(*x.shape[:2], ho, wo, kh * kw)
        # argmax returns the first maximum: ties route the gradient to the first element of
        # the window in row-major order, as torch does.
        arg = win.argmax(axis=-1)[..., None]
        y = np.take_along_axis(win, arg, axis=-1)[..., 0]

        def backprop(dy):
            hit = arg == np.arange(kh * kw)  # (N, C, ho, wo, kh*kw) one-hot of the argmax
            dwin = (hit * dy[..., None]).reshape(*dy.shape, kh, kw)
            dxp = np.zeros(xp.shape, dtype=dy.dtype)
            return _crop(_scatter(dxp, dwin, kh, kw, sh, sw, ho, wo), pad, pad, h, w)

        return y, backprop

    return forward


def avgpool2d(node, ctx):
    (kh, kw), (sh, sw), pad = node.params["size"], node.params["stride"], node.params["padding"]
    (_, h, w), (_, ho, wo) = node.input_shape, node.output_shape
    # Padded zeros are not counted (torch's count_include_pad=False): divide each window by
    # its number of real pixels, known from the shapes alone.
    ones = _pad(np.ones((1, 1, h, w)), pad, pad, pad, pad)
    count = _windows(ones, kh, kw, sh, sw, ho, wo).sum(axis=(-2, -1))[0, 0]

    def forward(x, training):
        xp = _pad(x, pad, pad, pad, pad)
        inv = (1 / count).astype(x.dtype)
        y = _windows(xp, kh, kw, sh, sw, ho, wo).sum(axis=(-2, -1)) * inv

        def backprop(dy):
            share = dy * inv
            dwin = np.broadcast_to(share[..., None, None], (*share.shape, kh, kw))
            dxp = np.zeros(xp.shape, dtype=dy.dtype)
            return _crop(_scatter(dxp, dwin, kh, kw, sh, sw, ho, wo), pad, pad, h, w)

        return y, backprop

    return forward


def globalavgpool(node, ctx):
    c, h, w = node.input_shape

    def forward(x, training):
        y = x.mean(axis=(2, 3))

        def backprop(dy):
            dx = np.empty(x.shape, dtype=dy.dtype)
            dx[...] = (dy * (1 / (h * w)))[:, :, None, None]
            return dx

        return y, backprop

    return forward
