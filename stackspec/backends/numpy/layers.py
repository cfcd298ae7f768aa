"""The NumPy layers: one function per registry key, and their composition.

Training: a layer function `kind(node, ctx)` reads everything it needs from the IR node (shapes
and params are decided by the registry, never here) and returns `forward(x)`, which returns
`(y, backprop)`; `backprop(dy)` returns dx and writes the parameter gradients into `ctx.grads`
(thinc's layers, micrograd's closures). `build` chains nodes and runs the backprops in reverse;
`residual` adds the gradients of the identity and of its body.

Evaluation: `eval_calls(node)` names the pure functions of inference.py that compute the node
and binds their arguments; the model runs them, and `compile --emit python` prints them.

Buffer ownership, which lets the hot paths work in place: a forward never writes into its
input x (earlier backprops may still hold it), while a backprop owns its dy and may overwrite
it, because every caller passes a fresh array and never reads it again.
"""

from __future__ import annotations

import inspect
import sys
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from ...layers import LAYERS as REGISTRY
from ...layers import STRUCTURAL, activation_params, conv_padding
from . import conv, inference
from .activations import FUNCTIONS, after_layer


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

    def tensors(self, node) -> NodeTensors:
        return NodeTensors(self, node)


@dataclass(frozen=True)
class NodeTensors:
    """One node's tensors by name (thinc's `model.get_param`): None where the registry gave the
    node no such tensor (bias=false, affine=false), so no layer re-decides it from params."""

    ctx: Context
    node: object

    def get(self, name: str) -> np.ndarray | None:
        key = self.node.keys().get(name)
        return None if key is None else self.ctx.params[key]

    def grad(self, name: str) -> np.ndarray | None:
        """The gradient buffer of a trainable tensor; None for state or a missing tensor."""
        return self.ctx.grad(f"{self.node.id}.{name}") if name in self.node.weights else None


def build(nodes, ctx: Context):
    """forward(x, training) -> (y, backprop) of the nodes run in order; in evaluation mode the
    inference functions compute y and there is no backprop."""
    train, evaluate = chain(nodes, ctx), evaluator(nodes, ctx)

    def forward(x, training):
        return train(x) if training else (evaluate(x), _no_backprop)

    return forward


def chain(nodes, ctx: Context):
    """Training: forward(x) -> (y, backprop) of the nodes run in order."""
    forwards = [layer_function(node.op)(node, ctx) for node in nodes]

    def forward(x):
        backs = []
        for f in forwards:
            x, back = f(x)
            backs.append(back)

        def backprop(dy):
            for back in reversed(backs):
                dy = back(dy)
            return dy

        return x, backprop

    return forward


def layer_function(op: str):
    return _find(LAYERS, op, "layer")


def _find(table: dict, name: str, what: str):
    try:
        return table[name]
    except KeyError:
        raise NotImplementedError(f"the numpy backend has no {what} '{name}'") from None


# --- evaluation mode --------------------------------------------------------------------------


class Tensor(NamedTuple):
    """An argument that is a weight-file tensor, by its key."""

    key: str


# Arguments that an inference function takes in another form than the node's params.
DERIVED = {"conv2d": {"padding": conv_padding}}


def eval_calls(node) -> list[tuple[str, dict]]:
    """The node in evaluation mode: (inference function, keyword arguments) pairs, its own
    then its activation's. A parameter of the function is the node's tensor of that name, else
    absent if it defaults to None (a tensor the node lacks), else the node's param."""
    calls = [(node.op, _arguments(node.op, node.params, node.keys()))]
    act = node.params.get("activation", "linear")
    if act != "linear":
        calls.append((act, _arguments(act, activation_params(act), {})))
    return calls


def _arguments(name: str, params: dict, keys: dict[str, str]) -> dict:
    derived, out = DERIVED.get(name, {}), {}
    signature = inspect.signature(_find(INFERENCE, name, "evaluation of"))
    for arg in list(signature.parameters.values())[1:]:
        if arg.name in keys:
            out[arg.name] = Tensor(keys[arg.name])
        elif arg.name in derived:
            out[arg.name] = derived[arg.name](params)
        elif arg.default is not None:
            out[arg.name] = params[arg.name]
    return out


def evaluator(nodes, ctx: Context):
    """Evaluation: y = the nodes run in order through their inference functions."""
    steps = []
    for node in nodes:
        if node.op == "residual":
            body = evaluator(node.body, ctx)
            steps.append((_residual_eval, {"body": body}))
            continue
        for name, kwargs in eval_calls(node):
            values = {k: ctx.params[v.key] if type(v) is Tensor else v for k, v in kwargs.items()}
            steps.append((INFERENCE[name], values))

    def evaluate(x):
        for fn, kwargs in steps:
            x = fn(x, **kwargs)
        return x

    return evaluate


def _residual_eval(x, body):
    return x + body(x)


# --- training ---------------------------------------------------------------------------------


def dense(node, ctx):
    t = ctx.tensors(node)
    weight, bias, gweight, gbias = t.get("weight"), t.get("bias"), t.grad("weight"), t.grad("bias")
    act = after_layer(node.params["activation"])

    def forward(x):
        y, act_grad = act(inference.dense(x, weight, bias), inplace=True)

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


def activation(node, ctx):
    """Every activation layer (`relu`, `elu alpha=0.5`): its params are the keywords."""
    fn, params = FUNCTIONS[node.op], node.params
    return lambda x: fn(x, **params)


def dropout(node, ctx):
    rate = node.params["rate"]
    keep = 1 - rate
    # Keep a unit when a uniform 32-bit integer falls below keep * 2^32 (exact to 2^-32).
    # The integers are the generator's raw output, two per 64-bit draw: 1.5x faster than
    # rng.random, and independent of x's dtype, so a seed gives the same mask in float64.
    threshold = np.uint32(min(round(keep * 2**32), 2**32 - 1))

    def forward(x):
        if rate == 0:
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
    p, t = node.params, ctx.tensors(node)
    momentum, eps = p["momentum"], p["eps"]
    axes, bshape = _norm_axes(node.input_shape)
    running_mean, running_var = t.get("running_mean"), t.get("running_var")
    gamma, beta, ggamma, gbeta = t.get("weight"), t.get("bias"), t.grad("weight"), t.grad("bias")

    def forward(x):
        count = x.size // x.shape[1]
        if count < 2:
            # The unbiased variance of one value is undefined (torch raises here too); fit.py
            # drops a final batch of one when a model has batchnorm.
            raise ValueError(
                f"batchnorm {node.id}: training needs more than one value per feature, "
                f"got input shape {x.shape}"
            )
        mean = x.mean(axis=axes, keepdims=True)
        xc = x - mean
        var = np.mean(np.square(xc), axis=axes, keepdims=True)
        inv_std = 1 / np.sqrt(var + eps)
        # gamma * xc * inv_std + beta, with gamma folded into the per-feature scale: the big
        # tensor is touched twice.
        scale = inv_std if gamma is None else inv_std * gamma.reshape(bshape)
        y = xc * scale
        if beta is not None:
            y += beta.reshape(bshape)
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


def flatten(node, ctx):
    def forward(x):
        return x.reshape(x.shape[0], -1), lambda dy: dy.reshape(x.shape)

    return forward


def residual(node, ctx):
    body = chain(node.body, ctx)

    def forward(x):
        y, body_back = body(x)

        def backprop(dy):
            # The body may overwrite its dy, and the identity branch needs it too.
            dx = body_back(dy.copy())
            dx += dy
            return dx

        return x + y, backprop

    return forward


def _discover(modules, fallback=None) -> dict:
    """Every function named as a registry key in `modules`; else `fallback`, if given, for an
    activation. tests/test_numpy_layers.py fails if a key has none."""
    table = {}
    for name in (*REGISTRY, *STRUCTURAL):
        found = (getattr(m, name) for m in modules if callable(getattr(m, name, None)))
        table[name] = next(found, fallback if name in FUNCTIONS else None)
    return {name: fn for name, fn in table.items() if fn is not None}


LAYERS = _discover((sys.modules[__name__], conv), fallback=activation)
INFERENCE = _discover((inference,))
