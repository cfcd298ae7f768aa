"""Image layers on (N, C, H, W) batches in training: conv2d, maxpool2d, avgpool2d, globalavgpool.

Everything is vectorised: windows come from `inference.windows` (a view, no copy), conv2d is one
GEMM over the im2col matrix (inference.py computes the forward), and the backward passes scatter
window gradients back with one strided add per kernel offset (kh*kw adds, never a loop over
pixels).
"""

from __future__ import annotations

import numpy as np

from ...layers import conv_padding
from . import inference as F
from .activations import after_layer


def _scatter(dxp, dwin, kh, kw, sh, sw, ho, wo):
    """Adds window gradients dwin (N, C, ho, wo, kh, kw) into dxp (N, C, Hp, Wp): the adjoint
    of `inference.windows`. Overlapping windows (stride < kernel) accumulate."""
    for i in range(kh):
        for j in range(kw):
            dxp[:, :, i : i + (ho - 1) * sh + 1 : sh, j : j + (wo - 1) * sw + 1 : sw] += dwin[
                ..., i, j
            ]
    return dxp


def _crop(dxp, top, left, h, w):
    return dxp[:, :, top : top + h, left : left + w]


def conv2d(node, ctx):
    p, t = node.params, ctx.tensors(node)
    (c, h, w), (f, ho, wo) = node.input_shape, node.output_shape
    (kh, kw), (sh, sw) = p["kernel"], p["stride"]
    padding = top, bottom, left, right = conv_padding(p)
    weight, bias, gweight, gbias = t.get("weight"), t.get("bias"), t.grad("weight"), t.grad("bias")
    act = after_layer(p["activation"])
    k = c * kh * kw

    def forward(x):
        n = x.shape[0]
        # im2col rows are output pixels, its columns match the (filters, C, kh, kw) weights.
        cols, size = F.im2col(x, (kh, kw), (sh, sw), padding)
        y, act_grad = act(F.conv_cols(cols, size, weight, bias), inplace=True)

        def backprop(dy):
            dz = act_grad(dy).transpose(0, 2, 3, 1).reshape(-1, f)
            np.matmul(dz.T, cols, out=gweight.reshape(f, k))
            if gbias is not None:
                np.sum(dz, axis=0, out=gbias)
            dcols = (dz @ weight.reshape(f, k)).reshape(n, ho, wo, c, kh, kw)
            dxp = np.zeros((n, c, h + top + bottom, w + left + right), dtype=dcols.dtype)
            _scatter(dxp, dcols.transpose(0, 3, 1, 2, 4, 5), kh, kw, sh, sw, ho, wo)
            return _crop(dxp, top, left, h, w)

        return y, backprop

    return forward


def maxpool2d(node, ctx):
    (kh, kw), (sh, sw), pad = node.params["size"], node.params["stride"], node.params["padding"]
    (_, h, w), (_, ho, wo) = node.input_shape, node.output_shape

    def forward(x):
        xp = F.pad(x, pad, pad, pad, pad, value=-np.inf)
        win = F.windows(xp, (kh, kw), (sh, sw)).reshape(*x.shape[:2], ho, wo, kh * kw)
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
    ones = F.pad(np.ones((1, 1, h, w)), pad, pad, pad, pad)
    count = F.windows(ones, (kh, kw), (sh, sw)).sum(axis=(-2, -1))[0, 0]

    def forward(x):
        xp = F.pad(x, pad, pad, pad, pad)
        inv = (1 / count).astype(x.dtype)
        y = F.windows(xp, (kh, kw), (sh, sw)).sum(axis=(-2, -1)) * inv

        def backprop(dy):
            share = dy * inv
            dwin = np.broadcast_to(share[..., None, None], (*share.shape, kh, kw))
            dxp = np.zeros(xp.shape, dtype=dy.dtype)
            return _crop(_scatter(dxp, dwin, kh, kw, sh, sw, ho, wo), pad, pad, h, w)

        return y, backprop

    return forward


def globalavgpool(node, ctx):
    c, h, w = node.input_shape

    def forward(x):
        y = x.mean(axis=(2, 3))

        def backprop(dy):
            dx = np.empty(x.shape, dtype=dy.dtype)
            dx[...] = (dy * (1 / (h * w)))[:, :, None, None]
            return dx

        return y, backprop

    return forward
