"""1-D layers on (N, T, F) batches: conv1d and the 1-D poolings.

Evaluation functions first (`conv1d_values`, with the rules of layers.py's: `compile --emit
python` copies them and the helpers they call), then the training layers. As conv.py's: the
windows are a view (no copy), conv1d is one GEMM over the im2col matrix, and the backward passes
scatter window gradients back with one strided add per kernel offset. Time-major throughout:
(N, T, F) in, (N, T', filters) out, no transposes.
"""

from __future__ import annotations

import numpy as np

from ...layers import conv1d_padding
from .activations import after_layer

# --- evaluation -------------------------------------------------------------------------------


def pad_time(x, left, right, value=0.0):
    """(N, T, F) padded on the time axis; x itself when there is nothing to pad."""
    if left == right == 0:
        return x
    return np.pad(x, ((0, 0), (left, right), (0, 0)), constant_values=value)


def time_windows(xp, size, stride, dilation=1):
    """(N, T', F, size) view (no copy) of the windows of a padded batch."""
    span = dilation * (size - 1) + 1
    return np.lib.stride_tricks.sliding_window_view(xp, span, axis=1)[:, ::stride, :, ::dilation]


def conv1d_values(x, weight, stride, padding, dilation, bias=None):
    """Cross-correlation of (N, T, F) with (filters, F, kernel) weights; padding (left, right)."""
    win = time_windows(pad_time(x, *padding), weight.shape[2], stride, dilation)
    n, t, f, k = win.shape
    y = win.reshape(n * t, f * k) @ weight.reshape(len(weight), -1).T
    if bias is not None:
        y += bias
    return y.reshape(n, t, -1)


def maxpool1d_values(x, size, stride, padding):
    return time_windows(pad_time(x, padding, padding, -np.inf), size, stride).max(axis=-1)


def avgpool1d_values(x, size, stride, padding):
    # The mean over the real steps of each window: padded zeros are not counted.
    ones = np.ones((1, x.shape[1], 1), x.dtype)
    count = time_windows(pad_time(ones, padding, padding), size, stride).sum(axis=-1)
    return time_windows(pad_time(x, padding, padding), size, stride).sum(axis=-1) / count


# --- training ---------------------------------------------------------------------------------


def _scatter(dxp, dwin, stride, dilation):
    """Adds window gradients dwin (N, T', F, k) into dxp (N, Tp, F): the adjoint of
    `time_windows`. Overlapping windows accumulate."""
    t = dwin.shape[1]
    for j in range(dwin.shape[3]):
        start = j * dilation
        dxp[:, start : start + (t - 1) * stride + 1 : stride] += dwin[..., j]
    return dxp


def conv1d(node, ctx):
    p, t = node.params, ctx.tensors(node)
    (steps, f), (out, filters) = node.input_shape, node.output_shape
    k, stride, dilation = p["kernel"], p["stride"], p["dilation"]
    left, right = conv1d_padding(p)
    weight, bias, gweight, gbias = t.get("weight"), t.get("bias"), t.grad("weight"), t.grad("bias")
    act = after_layer(p["activation"])

    def forward(x):
        n = x.shape[0]
        # Rows are output steps, columns the (F, kernel) order of the weights.
        cols = time_windows(pad_time(x, left, right), k, stride, dilation).reshape(n * out, f * k)
        z = cols @ weight.reshape(filters, -1).T
        if bias is not None:
            z += bias
        y, act_grad = act(z.reshape(n, out, filters), inplace=True)

        def backprop(dy):
            dz = act_grad(dy).reshape(-1, filters)
            np.matmul(dz.T, cols, out=gweight.reshape(filters, f * k))
            if gbias is not None:
                np.sum(dz, axis=0, out=gbias)
            dcols = (dz @ weight.reshape(filters, -1)).reshape(n, out, f, k)
            dxp = np.zeros((n, steps + left + right, f), dtype=dcols.dtype)
            return _scatter(dxp, dcols, stride, dilation)[:, left : left + steps]

        return y, backprop

    return forward


def maxpool1d(node, ctx):
    p = node.params
    size, stride, padding = p["size"], p["stride"], p["padding"]
    steps = node.input_shape[0]

    def forward(x):
        xp = pad_time(x, padding, padding, -np.inf)
        win = time_windows(xp, size, stride)
        # The first maximum of a window takes the gradient, as in maxpool2d and torch.
        arg = win.argmax(axis=-1)[..., None]
        y = np.take_along_axis(win, arg, axis=-1)[..., 0]

        def backprop(dy):
            dwin = (arg == np.arange(size)) * dy[..., None]
            dxp = np.zeros(xp.shape, dtype=dy.dtype)
            return _scatter(dxp, dwin, stride, 1)[:, padding : padding + steps]

        return y, backprop

    return forward


def avgpool1d(node, ctx):
    p = node.params
    size, stride, padding = p["size"], p["stride"], p["padding"]
    steps = node.input_shape[0]
    # Padded zeros are not counted (torch's count_include_pad=False): each window's number of
    # real steps, known from the shapes alone.
    ones = pad_time(np.ones((1, steps, 1)), padding, padding)
    count = time_windows(ones, size, stride).sum(axis=-1)[0]  # (T', 1)

    def forward(x):
        xp = pad_time(x, padding, padding)
        inv = (1 / count).astype(x.dtype)
        y = time_windows(xp, size, stride).sum(axis=-1) * inv

        def backprop(dy):
            share = dy * inv
            dwin = np.broadcast_to(share[..., None], (*share.shape, size))
            dxp = np.zeros(xp.shape, dtype=dy.dtype)
            return _scatter(dxp, dwin, stride, 1)[:, padding : padding + steps]

        return y, backprop

    return forward
