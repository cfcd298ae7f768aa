"""Normalization layers (normalize, batchnorm, layernorm, rmsnorm): each an evaluation function
(`_values`, with the rules of layers.py's) and a training function with a hand-written backward
pass.

A backprop owns its dy and may overwrite it (see layers.py).
"""

from __future__ import annotations

import numpy as np

from . import kernels
from .kernels import feature_axes


def normalize_values(x, mean, var):
    """(x - mean) / max(sqrt(var), 1e-7), per feature (N, F) or per channel (N, C, H, W): Keras's
    Normalization, whose floor (its epsilon) leaves a constant feature at x - mean."""
    shape = (1, -1) + (1,) * (x.ndim - 2)
    std = np.maximum(np.sqrt(var.reshape(shape)), 1e-7)
    return (x - mean.reshape(shape)) / std


def normalize(node, ctx):
    t = ctx.tensors(node)
    mean, var = t.get("mean"), t.get("var")

    def forward(x):
        # The statistics are state, adapted by fit.py before the first step, never trained:
        # the only gradient is the input's, 1/std per feature.
        shape = (1, -1) + (1,) * (x.ndim - 2)
        inv_std = 1 / np.maximum(np.sqrt(var.reshape(shape)), 1e-7)

        def backprop(dy):
            dy *= inv_std
            return dy

        return normalize_values(x, mean, var), backprop

    return forward


def batchnorm_values(x, running_mean, running_var, eps, weight=None, bias=None):
    """The running statistics, per feature (N, F), (N, T, F) or per channel (N, C, H, W)."""
    shape = feature_axes(x.ndim)[1]
    scale = 1 / np.sqrt(running_var.reshape(shape) + eps)
    if weight is not None:
        scale = scale * weight.reshape(shape)
    y = (x - running_mean.reshape(shape)) * scale
    if bias is not None:
        y += bias.reshape(shape)
    return y


def batchnorm(node, ctx):
    p, t = node.params, ctx.tensors(node)
    momentum, eps = p["momentum"], p["eps"]
    running_mean, running_var = t.get("running_mean"), t.get("running_var")
    gamma, beta, ggamma, gbeta = t.get("weight"), t.get("bias"), t.grad("weight"), t.grad("bias")

    def forward(x):
        count = x.size // running_mean.size
        if count < 2:
            # The unbiased variance of one value is undefined (torch raises here too); fit.py
            # drops a final batch of one when a model has batchnorm.
            raise ValueError(
                f"batchnorm {node.id}: training needs more than one value per feature, "
                f"got input shape {x.shape}"
            )
        # The passes over the big tensors are kernels (compiled ones are for (N, F)); the
        # per-feature vectors, of shape (F,), are plain NumPy.
        k = ctx.kernels if x.ndim == 2 else kernels
        mean, xc, var = k.center(x)
        inv_std = 1 / np.sqrt(var + eps)
        # gamma * xc * inv_std + beta, with gamma folded into the per-feature scale: the big
        # tensor is touched once more.
        scale = inv_std if gamma is None else inv_std * gamma
        y = k.scale_shift(xc, scale, beta)
        # Keras's convention: momentum is the fraction of the running value kept. The running
        # variance is unbiased (PyTorch/cuDNN), the normalizing one biased.
        # (Slice assignment: the closure's arrays are updated in place, never rebound.)
        running_mean[:] = momentum * running_mean + (1 - momentum) * mean
        unbiased = (1 - momentum) * count / (count - 1)
        running_var[:] = momentum * running_var + unbiased * var

        def backprop(dy):
            sum_dy, sum_dy_xc = k.column_sums(dy, xc)
            if gamma is not None:
                ggamma[:] = sum_dy_xc * inv_std
                gbeta[:] = sum_dy
            # With xhat = xc*inv_std and dxhat = gamma*dy, the usual
            #   dx = inv_std * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
            # is dy*scale + xc*k2 + k3 with per-feature k2, k3: one more pass over the tensor.
            k2 = scale * (inv_std * inv_std) * (sum_dy_xc * (-1 / count))
            k3 = scale * (sum_dy * (-1 / count))
            return k.batchnorm_grad(dy, scale, xc, k2, k3)

        return y, backprop

    return forward


def layernorm_values(x, eps, weight=None, bias=None):
    xc = x - x.mean(axis=-1, keepdims=True)
    y = xc * (1 / np.sqrt(np.mean(xc * xc, axis=-1, keepdims=True) + eps))
    return y if weight is None else y * weight + bias


def layernorm(node, ctx):
    eps, t = node.params["eps"], ctx.tensors(node)
    gamma, beta, ggamma, gbeta = t.get("weight"), t.get("bias"), t.grad("weight"), t.grad("bias")
    batch_axes = tuple(range(len(node.input_shape)))  # every axis but the last, batch included

    def forward(x):
        mean = x.mean(axis=-1, keepdims=True)
        xc = x - mean
        inv_std = 1 / np.sqrt(np.mean(xc * xc, axis=-1, keepdims=True) + eps)
        xhat = xc * inv_std

        def backprop(dy):
            if gamma is not None:
                np.sum(dy * xhat, axis=batch_axes, out=ggamma)
                np.sum(dy, axis=batch_axes, out=gbeta)
                dy *= gamma
            mean_dy = dy.mean(axis=-1, keepdims=True)
            mean_dy_xhat = np.mean(dy * xhat, axis=-1, keepdims=True)
            dy -= mean_dy
            dy -= xhat * mean_dy_xhat
            dy *= inv_std
            return dy

        y = xhat if gamma is None else xhat * gamma + beta
        return y, backprop

    return forward


def rmsnorm_values(x, eps, weight=None):
    y = x * (1 / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps))
    return y if weight is None else y * weight


def rmsnorm(node, ctx):
    eps, t = node.params["eps"], ctx.tensors(node)
    gamma, ggamma = t.get("weight"), t.grad("weight")
    batch_axes = tuple(range(len(node.input_shape)))  # every axis but the last, batch included

    def forward(x):
        inv_rms = 1 / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps)
        xhat = x * inv_rms

        def backprop(dy):
            # With xhat = x * r, r = (mean(x^2) + eps)^(-1/2), and g = gamma * dy, the
            # derivative of r is -r^3 x / F: dx = r * (g - xhat * mean(g * xhat)).
            if gamma is not None:
                np.sum(dy * xhat, axis=batch_axes, out=ggamma)
                dy *= gamma
            dy -= xhat * np.mean(dy * xhat, axis=-1, keepdims=True)
            dy *= inv_rms
            return dy

        return (xhat if gamma is None else xhat * gamma), backprop

    return forward
