"""The NumPy layers: one function per registry key, and their composition.

Training: a layer function `kind(node, ctx)` reads everything it needs from the IR node (shapes
and params are decided by the registry, never here) and returns `forward(x)`, which returns
`(y, backprop)`; `backprop(dy)` returns dx and writes the parameter gradients into `ctx.grads`
(thinc's layers, micrograd's closures). `build` chains nodes and runs the backprops in reverse;
`residual`, `concat` and `add` add the gradients of their bodies (a residual's identity's too).

Evaluation: one pure function per registry key, named `{key}_values(x, **arguments) -> y`, next
to the key's training function (here, in conv.py, or in activations.py). `eval_calls(node)`
names the ones that compute a node and binds their arguments; the model runs them, and `compile
--emit python` copies their source (checked there: they may read only `np`, builtins and other
module-level functions and constants, which it copies too). They keep the dtype of x (constants
are Python floats, which NumPy never upcasts with); a parameter that defaults to None is a
tensor the node may lack (dense with bias=false).

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
from ...layers import STRUCTURAL, activation_params, conv1d_padding, conv_padding
from . import activations, attention, conv, embedding, norm, recurrent, reshaping, sequence
from . import kernels as numpy_kernels
from .activations import FUNCTIONS, after_layer
from .kernels import feature_axes


@dataclass
class Context:
    """What layer functions share: tensors by weight-file key (trainable and state), their
    gradients, the dropout RNG and the kernels of the big elementwise passes (both read at each
    call, so reseeding or switching to compiled kernels takes effect at once). Layer closures
    hold on to these arrays, so replace weights in place (np.copyto)."""

    params: dict[str, np.ndarray]
    grads: dict[str, np.ndarray] = field(default_factory=dict)
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))
    kernels: object = numpy_kernels  # kernels.py, or its compiled twins (compiled.py)
    # A node whose input gradient nobody reads (a step's first): dense skips that GEMM.
    no_input_grad: str | None = None

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
        return self.ctx.grad(self.node.keys()[name]) if name in self.node.weights else None


def build(nodes, ctx: Context):
    """forward(x, training) -> (y, backprop) of the nodes run in order; in evaluation mode the
    evaluation functions compute y and there is no backprop."""
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


# Arguments that an evaluation function takes in another form than the node's params.
DERIVED = {"conv2d": {"padding": conv_padding}, "conv1d": {"padding": conv1d_padding}}


def eval_calls(node) -> list[tuple[str, dict]]:
    """The node in evaluation mode: (registry key, keyword arguments) pairs, its own
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
    """Evaluation: y = the nodes run in order through their evaluation functions."""
    steps = []
    for node in nodes:
        if node.op == "residual":
            body = evaluator(node.body, ctx)
            steps.append((_residual_eval, {"body": body}))
            continue
        if node.branches:
            branches = [evaluator(b, ctx) for b in node.branches]
            steps.append((_join_eval, {"branches": branches, "axis": join_axis(node)}))
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


def _join_eval(x, branches, axis):
    outs = [branch(x) for branch in branches]
    return np.concatenate(outs, axis=axis) if axis is not None else sum(outs[1:], outs[0])


def join_axis(node) -> int | None:
    """The batched axis a concat joins on (channels of (N, C, H, W), else the last); None for
    add."""
    if node.op == "add":
        return None
    return 1 if len(node.output_shape) == 3 else -1


# --- the layers: evaluation, then training -----------------------------------------------------


def dense_values(x, weight, bias=None):
    # W is (units, F) C-contiguous, so W.T is a transposed BLAS operand, not a copy.
    y = x @ weight.T
    if bias is not None:
        y += bias
    return y


def dense(node, ctx):
    t = ctx.tensors(node)
    weight, bias, gweight, gbias = t.get("weight"), t.get("bias"), t.grad("weight"), t.grad("bias")
    act = after_layer(node.params["activation"])
    # The common `dense N relu`: bias and relu in one kernel pass, forward and backward.
    bias_relu = node.params["activation"] == "relu" and bias is not None

    def forward(x):
        if bias_relu:
            y = ctx.kernels.bias_relu(x @ weight.T, bias)

            def act_grad(dy):
                return ctx.kernels.relu_grad(dy, y)
        else:
            y, act_grad = act(dense_values(x, weight, bias), inplace=True)

        def backprop(dy):
            dz = act_grad(dy)
            # A (N, T, F) sequence is N*T rows of F features: one GEMM over all of them.
            rows, dz_rows = x.reshape(-1, x.shape[-1]), dz.reshape(-1, dz.shape[-1])
            np.matmul(dz_rows.T, rows, out=gweight)
            if gbias is not None:
                np.sum(dz_rows, axis=0, out=gbias)
            if node.id == ctx.no_input_grad:
                return None
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


def dropout_values(x):
    # Inverted dropout scales in training, so evaluation is the identity.
    return x


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
        # Inverted dropout: scale the kept units by 1/keep now, so evaluation is the identity.
        y, scale = ctx.kernels.dropout(x, bits, threshold, x.dtype.type(1 / keep))

        def backprop(dy):
            dy *= scale
            return dy

        return y, backprop

    return forward


def _identity(dy):
    return dy


def _no_backprop(dy):
    raise RuntimeError("no gradient in evaluation mode: run forward with training=True")


def prelu_values(x, weight):
    # One slope per feature of (N, F) and (N, T, F), per channel of (N, C, H, W).
    slope = weight.reshape(feature_axes(x.ndim)[1])
    return np.where(x > 0, x, x * slope)


def prelu(node, ctx):
    t = ctx.tensors(node)
    weight, gweight = t.get("weight"), t.grad("weight")
    axes, shape = feature_axes(len(node.input_shape) + 1)

    def forward(x):
        slope = weight.reshape(shape)
        negative = np.minimum(x, 0)  # x where the slope applies, else 0
        y = np.maximum(x, 0) + negative * slope

        def backprop(dy):
            np.sum(dy * negative, axis=axes, out=gweight)
            # torch's rule: the slope's gradient at x = 0 as well (where it is the same).
            return np.where(x > 0, dy, dy * slope)

        return y, backprop

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


def concat(node, ctx):
    branches = [chain(b, ctx) for b in node.branches]
    axis = join_axis(node)

    def forward(x):
        outs, backs = zip(*(branch(x) for branch in branches), strict=True)
        ends = np.cumsum([y.shape[axis] for y in outs])[:-1]

        def backprop(dy):
            # Each branch owns its slice of dy (a copy: a backprop may overwrite its dy).
            parts = np.split(dy, ends, axis=axis)
            return _sum_grads(
                back(np.ascontiguousarray(p)) for back, p in zip(backs, parts, strict=True)
            )

        return np.concatenate(outs, axis=axis), backprop

    return forward


def add(node, ctx):
    branches = [chain(b, ctx) for b in node.branches]

    def forward(x):
        outs, backs = zip(*(branch(x) for branch in branches), strict=True)

        def backprop(dy):
            last = len(backs) - 1
            return _sum_grads(back(dy if i == last else dy.copy()) for i, back in enumerate(backs))

        return sum(outs[1:], outs[0]), backprop

    return forward


def _sum_grads(grads):
    """Every branch read the same x: its gradient is the sum of theirs. The first is copied,
    as an empty branch passes its dy (or x's gradient) straight through."""
    grads = iter(grads)
    total = np.array(next(grads), copy=True)
    for g in grads:
        total += g
    return total


def _discover(modules, suffix="", fallback=None) -> dict:
    """Every function named as a registry key (+ suffix) in `modules`; else `fallback`, if
    given, for an activation. tests/test_numpy_layers.py fails if a key has none."""
    table = {}
    for name in (*REGISTRY, *STRUCTURAL):
        found = (getattr(m, name + suffix, None) for m in modules)
        table[name] = next(filter(callable, found), fallback if name in FUNCTIONS else None)
    return {name: fn for name, fn in table.items() if fn is not None}


_MODULES = (
    sys.modules[__name__],
    conv,
    sequence,
    norm,
    recurrent,
    attention,
    embedding,
    reshaping,
    activations,
)
LAYERS = _discover(_MODULES[:-1], fallback=activation)  # activations: the fallback
INFERENCE = _discover(_MODULES, "_values")
