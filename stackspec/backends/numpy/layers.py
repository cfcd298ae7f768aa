"""The NumPy layers: one function per registry key, and their composition.

A layer function `kind(node, ctx)` reads everything it needs from the IR node (shapes and
params are decided by the registry, never here) and returns `forward(x, training)`, which
returns `(y, backprop)`; `backprop(dy)` returns dx and writes the parameter gradients into
`ctx.grads` (thinc's layers, micrograd's closures). `build` chains nodes and runs the backprops
in reverse; `residual` adds the gradients of the identity and of its body.

Buffer ownership, which lets the hot paths work in place: a forward never writes into its
input x (earlier backprops may still hold it), while a backprop owns its dy and may overwrite
it, because every caller passes a fresh array and never reads it again.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import numpy as np

from ...layers import LAYERS as REGISTRY
from ...layers import STRUCTURAL
from . import activations, conv
from .activations import FUNCTIONS


@dataclass
class Context:
    """What layer functions share: tensors by weight-file key (trainable and state), their
    gradients, and the dropout RNG (read at each call, so reseeding takes effect at once).
    Layer closures hold on to these arrays, so replace weights in place (np.copyto)."""

    params: dict[str, np.ndarray]
    grads: dict[str, np.ndarray] = field(default_factory=dict)
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))

    def grad(self, key: str) -> np.ndarray:
        """The gradient buffer of a trainable tensor, created on first use."""
        if key not in self.grads:
            self.grads[key] = np.zeros_like(self.params[key])
        return self.grads[key]


def build(nodes, ctx: Context):
    """forward(x, training) -> (y, backprop) of the nodes run in order."""
    forwards = [layer_function(node.op)(node, ctx) for node in nodes]

    def forward(x, training):
        backs = []
        for f in forwards:
            x, back = f(x, training)
            backs.append(back)

        def backprop(dy):
            for back in reversed(backs):
                dy = back(dy)
            return dy

        return x, backprop

    return forward


def layer_function(op: str):
    try:
        return LAYERS[op]
    except KeyError:
        raise NotImplementedError(f"the numpy backend has no layer '{op}'") from None


def dense(node, ctx):
    p, key = node.params, node.id
    weight, gweight = ctx.params[f"{key}.weight"], ctx.grad(f"{key}.weight")
    bias = ctx.params[f"{key}.bias"] if p["bias"] else None
    gbias = ctx.grad(f"{key}.bias") if p["bias"] else None
    activation = FUNCTIONS[p["activation"]]

    def forward(x, training):
        # W is (units, F) C-contiguous, so W.T is a transposed BLAS operand, not a copy.
        z = x @ weight.T
        if bias is not None:
            z += bias
        y, act_grad = activation(z, inplace=True)

        def backprop(dy):
            dz = act_grad(dy)
            np.matmul(dz.T, x, out=gweight)
            if gbias is not None:
                np.sum(dz, axis=0, out=gbias)
            if weight.shape[0] == 1:
                # One unit (a regression head): dx is an outer product, which BLAS does
                # several times slower as a K=1 GEMM than NumPy does by broadcasting.
                return dz * weight
            return dz @ weight

        return y, backprop

    return forward


def dropout(node, ctx):
    rate = node.params["rate"]
    keep = 1 - rate
    # Keep a unit when a uniform 32-bit integer falls below keep * 2^32 (exact to 2^-32).
    # The integers are the generator's raw output, two per 64-bit draw: 1.5x faster than
    # rng.random, and independent of x's dtype, so a seed gives the same mask in float64.
    threshold = np.uint32(min(round(keep * 2**32), 2**32 - 1))

    def forward(x, training):
        if not training or rate == 0:
            return x, _identity
        bits = ctx.rng.bit_generator.random_raw((x.size + 1) // 2).view(np.uint32)
        mask = (bits[: x.size] < threshold).reshape(x.shape)
        # Inverted dropout: scale the kept units by 1/keep now, so evaluation is the identity.
        scale = np.multiply(mask, 1 / keep, dtype=x.dtype)
        y = x * scale

        def backprop(dy):
            dy *= scale
            return dy

        return y, backprop

    return forward


def _identity(dy):
    return dy


def _no_backprop(dy):
    raise RuntimeError("no gradient in evaluation mode: run forward with training=True")


def _norm_axes(shape):
    """Reduction axes and the broadcast shape of per-feature vectors for (N, F) or (N, C, H, W)."""
    if len(shape) == 1:
        return (0,), (1, shape[0])
    return (0, 2, 3), (1, shape[0], 1, 1)


def batchnorm(node, ctx):
    p, key = node.params, node.id
    momentum, eps = p["momentum"], p["eps"]
    axes, bshape = _norm_axes(node.input_shape)
    running_mean = ctx.params[f"{key}.running_mean"]
    running_var = ctx.params[f"{key}.running_var"]
    gamma = ctx.params[f"{key}.weight"] if p["affine"] else None
    beta = ctx.params[f"{key}.bias"] if p["affine"] else None
    ggamma = ctx.grad(f"{key}.weight") if p["affine"] else None
    gbeta = ctx.grad(f"{key}.bias") if p["affine"] else None

    def normalize(xc, inv_std):
        """gamma * xc * inv_std + beta, with gamma folded into the per-feature scale: the
        big tensor is touched twice."""
        scale = inv_std if gamma is None else inv_std * gamma.reshape(bshape)
        y = xc * scale
        if beta is not None:
            y += beta.reshape(bshape)
        return y, scale

    def forward(x, training):
        if not training:
            inv_std = 1 / np.sqrt(running_var.reshape(bshape) + eps)
            return normalize(x - running_mean.reshape(bshape), inv_std)[0], _no_backprop
        count = x.size // x.shape[1]
        if count < 2:
            # The unbiased variance of one value is undefined (torch raises here too); fit.py
            # drops a final batch of one when a model has batchnorm.
            raise ValueError(
                f"batchnorm {key}: training needs more than one value per feature, "
                f"got input shape {x.shape}"
            )
        mean = x.mean(axis=axes, keepdims=True)
        xc = x - mean
        var = np.mean(np.square(xc), axis=axes, keepdims=True)
        inv_std = 1 / np.sqrt(var + eps)
        y, scale = normalize(xc, inv_std)
        # Keras's convention: momentum is the fraction of the running value kept. The running
        # variance is unbiased (PyTorch/cuDNN), the normalizing one biased.
        # (Slice assignment: the closure's arrays are updated in place, never rebound.)
        running_mean[:] = momentum * running_mean + (1 - momentum) * mean.reshape(-1)
        unbiased = (1 - momentum) * count / (count - 1)
        running_var[:] = momentum * running_var + unbiased * var.reshape(-1)

        def backprop(dy):
            sum_dy = dy.sum(axis=axes, keepdims=True)
            sum_dy_xc = np.sum(dy * xc, axis=axes, keepdims=True)
            if gamma is not None:
                ggamma[:] = (sum_dy_xc * inv_std).reshape(-1)
                gbeta[:] = sum_dy.reshape(-1)
            # With xhat = xc*inv_std and dxhat = gamma*dy, the usual
            #   dx = inv_std * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
            # is dy*scale + xc*k2 + k3 with per-feature k2, k3: four passes over the tensor.
            k2 = scale * (inv_std * inv_std) * (sum_dy_xc * (-1 / count))
            k3 = scale * (sum_dy * (-1 / count))
            tmp = xc * k2
            tmp += k3
            dy *= scale
            dy += tmp
            return dy

        return y, backprop

    return forward


def layernorm(node, ctx):
    p, key = node.params, node.id
    eps = p["eps"]
    gamma = ctx.params[f"{key}.weight"] if p["affine"] else None
    beta = ctx.params[f"{key}.bias"] if p["affine"] else None
    ggamma = ctx.grad(f"{key}.weight") if p["affine"] else None
    gbeta = ctx.grad(f"{key}.bias") if p["affine"] else None
    batch_axes = tuple(range(len(node.input_shape)))  # every axis but the last, batch included

    def forward(x, training):
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


def flatten(node, ctx):
    def forward(x, training):
        return x.reshape(x.shape[0], -1), lambda dy: dy.reshape(x.shape)

    return forward


def residual(node, ctx):
    body = build(node.body, ctx)

    def forward(x, training):
        y, body_back = body(x, training)

        def backprop(dy):
            # The body may overwrite its dy, and the identity branch needs it too.
            dx = body_back(dy.copy())
            dx += dy
            return dx

        return x + y, backprop

    return forward


def _discover() -> dict:
    """Every layer function, found by its registry name in this module, conv or activations."""
    modules = (sys.modules[__name__], conv, activations)
    table = {}
    for name in (*REGISTRY, *STRUCTURAL):
        for module in modules:
            fn = getattr(module, name, None)
            if callable(fn):
                table[name] = fn
                break
    return table


LAYERS = _discover()
