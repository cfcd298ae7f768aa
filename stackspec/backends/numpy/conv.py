"""Image layers on (N, C, H, W) batches: conv2d, the poolings, upsample2d.

Evaluation functions first (`conv2d_values`, with the rules of layers.py's: `compile --emit
python` copies them and the helpers they call), then the training layers. Everything is
vectorised: windows are a view (no copy), conv2d is one GEMM over the im2col matrix, and the
backward passes scatter window gradients back with one strided add per kernel offset (kh*kw
adds, never a loop over pixels). `padding` of conv2d_values is (top, bottom, left, right).
"""

from __future__ import annotations

import numpy as np

from ...layers import conv_padding
from .activations import after_layer

# --- evaluation -------------------------------------------------------------------------------


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


def conv2d_values(x, weight, stride, padding, bias=None):
    """Cross-correlation of (N, C, H, W) with (F, C, kh, kw) weights."""
    cols, size = im2col(x, weight.shape[2:], stride, padding)
    return conv_cols(cols, size, weight, bias)


def conv_cols(cols, size, weight, bias=None):
    """The convolution from its im2col matrix: one GEMM, no weight copy; (N, F, H', W')."""
    z = cols @ weight.reshape(len(weight), -1).T
    if bias is not None:
        z += bias
    return np.ascontiguousarray(z.reshape(*size, -1).transpose(0, 3, 1, 2))


def maxpool2d_values(x, size, stride, padding):
    xp = pad(x, padding, padding, padding, padding, value=-np.inf)
    return windows(xp, size, stride).max(axis=(4, 5))


def avgpool2d_values(x, size, stride, padding):
    # The mean over the real pixels of each window: padded zeros are not counted.
    p = (padding,) * 4
    ones = np.ones((1, 1) + x.shape[2:], x.dtype)
    count = windows(pad(ones, *p), size, stride).sum(axis=(4, 5))
    return windows(pad(x, *p), size, stride).sum(axis=(4, 5)) / count


def channels_first(x):
    """(N, C, H*W) of an image batch, (N, F, T) of a sequence batch (N, T, F): the global
    poolings reduce the last axis."""
    if x.ndim == 3:
        return x.transpose(0, 2, 1)
    return x.reshape(*x.shape[:2], -1)


def globalavgpool_values(x):
    return channels_first(x).mean(axis=-1)


def globalmaxpool_values(x):
    return channels_first(x).max(axis=-1)


def upsample2d_values(x, size):
    # Nearest neighbour: every pixel becomes a size x size block.
    return x.repeat(size, axis=2).repeat(size, axis=3)


# --- training ---------------------------------------------------------------------------------


def _scatter(dxp, dwin, kh, kw, sh, sw, ho, wo):
    """Adds window gradients dwin (N, C, ho, wo, kh, kw) into dxp (N, C, Hp, Wp): the adjoint
    of `windows`. Overlapping windows (stride < kernel) accumulate."""
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
        cols, size = im2col(x, (kh, kw), (sh, sw), padding)
        y, act_grad = act(conv_cols(cols, size, weight, bias), inplace=True)

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
    p = node.params
    (kh, kw), (sh, sw), padding = p["size"], p["stride"], p["padding"]
    sides = (padding,) * 4
    (_, h, w), (_, ho, wo) = node.input_shape, node.output_shape

    def forward(x):
        xp = pad(x, *sides, value=-np.inf)
        win = windows(xp, (kh, kw), (sh, sw)).reshape(*x.shape[:2], ho, wo, kh * kw)
        # argmax returns the first maximum: ties route the gradient to the first element of
        # the window in row-major order, as torch does.
        arg = win.argmax(axis=-1)[..., None]
        y = np.take_along_axis(win, arg, axis=-1)[..., 0]

        def backprop(dy):
            hit = arg == np.arange(kh * kw)  # (N, C, ho, wo, kh*kw) one-hot of the argmax
            dwin = (hit * dy[..., None]).reshape(*dy.shape, kh, kw)
            dxp = np.zeros(xp.shape, dtype=dy.dtype)
            return _crop(_scatter(dxp, dwin, kh, kw, sh, sw, ho, wo), padding, padding, h, w)

        return y, backprop

    return forward


def avgpool2d(node, ctx):
    p = node.params
    (kh, kw), (sh, sw), padding = p["size"], p["stride"], p["padding"]
    sides = (padding,) * 4
    (_, h, w), (_, ho, wo) = node.input_shape, node.output_shape
    # Padded zeros are not counted (torch's count_include_pad=False): divide each window by
    # its number of real pixels, known from the shapes alone.
    ones = pad(np.ones((1, 1, h, w)), *sides)
    count = windows(ones, (kh, kw), (sh, sw)).sum(axis=(-2, -1))[0, 0]

    def forward(x):
        xp = pad(x, *sides)
        inv = (1 / count).astype(x.dtype)
        y = windows(xp, (kh, kw), (sh, sw)).sum(axis=(-2, -1)) * inv

        def backprop(dy):
            share = dy * inv
            dwin = np.broadcast_to(share[..., None, None], (*share.shape, kh, kw))
            dxp = np.zeros(xp.shape, dtype=dy.dtype)
            return _crop(_scatter(dxp, dwin, kh, kw, sh, sw, ho, wo), padding, padding, h, w)

        return y, backprop

    return forward


def _unflatten(dflat, x):
    """The gradient of `channels_first(x)` back in x's layout."""
    return dflat.transpose(0, 2, 1) if x.ndim == 3 else dflat.reshape(x.shape)


def globalavgpool(node, ctx):
    def forward(x):
        flat = channels_first(x)
        y = flat.mean(axis=-1)

        def backprop(dy):
            dflat = np.empty(flat.shape, dtype=dy.dtype)
            dflat[...] = (dy * (1 / flat.shape[-1]))[..., None]
            return _unflatten(dflat, x)

        return y, backprop

    return forward


def globalmaxpool(node, ctx):
    def forward(x):
        flat = channels_first(x)
        # The first maximum of each channel takes the gradient, as in maxpool2d.
        arg = flat.argmax(axis=-1)[..., None]
        y = np.take_along_axis(flat, arg, axis=-1)[..., 0]

        def backprop(dy):
            dflat = np.zeros(flat.shape, dtype=dy.dtype)
            np.put_along_axis(dflat, arg, dy[..., None], axis=-1)
            return _unflatten(dflat, x)

        return y, backprop

    return forward


def upsample2d(node, ctx):
    s = node.params["size"]

    def forward(x):
        n, c, h, w = x.shape

        def backprop(dy):
            # Each input pixel's gradient is the sum over its block.
            return dy.reshape(n, c, h, s, w, s).sum(axis=(3, 5))

        return upsample2d_values(x, s), backprop

    return forward
