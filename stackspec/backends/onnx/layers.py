"""The layers as ONNX ops: one function per registry key, `{key}(g, node, x) -> y`, reading
the node's params and tensors (the registry decided shapes and weights; nothing is re-decided
here) and adding ops to the graph `g` (graph.py); the activations are in activations.py, and
the composition adds dense/conv2d's activation after them. Evaluation mode throughout
(LANGUAGE.md §5): dropout is the identity, batchnorm uses its running statistics.
"""

from __future__ import annotations

import sys

import numpy as np

from ...layers import LAYERS as REGISTRY
from ...layers import STRUCTURAL, conv1d_padding, conv_padding
from . import activations


def dense(g, node, x):
    bias = g.tensor(node, "bias")
    if len(node.input_shape) == 1:
        # Gemm with transB: y = x @ W.T + b with W stored (units, F) as the weight file has it.
        inputs = (x, g.tensor(node, "weight")) + ((bias,) if bias else ())
        return g.op("Gemm", *inputs, transB=1)
    # A sequence (N, T, F): Gemm is 2-D only; MatMul broadcasts over N and T.
    y = g.op("MatMul", x, g.op("Transpose", g.tensor(node, "weight"), perm=[1, 0]))
    return g.op("Add", y, bias) if bias else y


def dropout(g, node, x):
    # Inverted dropout scales while training, so evaluation is the identity.
    return g.op("Identity", x)


def flatten(g, node, x):
    return g.op("Flatten", x, axis=1)  # (N, C, H, W) -> (N, C*H*W) in C, H, W order


def conv2d(g, node, x):
    p = node.params
    top, bottom, left, right = conv_padding(p)
    bias = g.tensor(node, "bias")
    inputs = (x, g.tensor(node, "weight")) + ((bias,) if bias else ())
    return g.op(
        "Conv",
        *inputs,
        kernel_shape=list(p["kernel"]),
        strides=list(p["stride"]),
        pads=[top, left, bottom, right],  # ONNX: every axis's start, then every axis's end
    )


def _time_first(g, x):
    """(N, T, F) <-> (N, F, T): ONNX's Conv and pools want channels before the spatial axis."""
    return g.op("Transpose", x, perm=[0, 2, 1])


def conv1d(g, node, x):
    p = node.params
    bias = g.tensor(node, "bias")
    inputs = (_time_first(g, x), g.tensor(node, "weight")) + ((bias,) if bias else ())
    y = g.op(
        "Conv",
        *inputs,
        kernel_shape=[p["kernel"]],
        strides=[p["stride"]],
        pads=list(conv1d_padding(p)),
        dilations=[p["dilation"]],
    )
    return _time_first(g, y)


def _pool1d_attributes(p: dict) -> dict:
    return {"kernel_shape": [p["size"]], "strides": [p["stride"]], "pads": [p["padding"]] * 2}


def maxpool1d(g, node, x):
    y = g.op("MaxPool", _time_first(g, x), **_pool1d_attributes(node.params))
    return _time_first(g, y)


def avgpool1d(g, node, x):
    attributes = _pool1d_attributes(node.params)
    y = g.op("AveragePool", _time_first(g, x), count_include_pad=0, **attributes)
    return _time_first(g, y)


def _pool_attributes(p: dict) -> dict:
    pad = p["padding"]
    return {"kernel_shape": list(p["size"]), "strides": list(p["stride"]), "pads": [pad] * 4}


def maxpool2d(g, node, x):
    # ONNX's MaxPool never picks a padded position, as our -inf padding never does.
    return g.op("MaxPool", x, **_pool_attributes(node.params))


def avgpool2d(g, node, x):
    # Padded zeros are not counted, as in every backend.
    return g.op("AveragePool", x, count_include_pad=0, **_pool_attributes(node.params))


def globalavgpool(g, node, x):
    if len(node.input_shape) == 2:  # over the time axis of (N, T, F)
        return g.op("ReduceMean", x, axes=[1], keepdims=0)
    return g.op("Flatten", g.op("GlobalAveragePool", x), axis=1)  # (N, C, 1, 1) -> (N, C)


def globalmaxpool(g, node, x):
    if len(node.input_shape) == 2:
        return g.op("ReduceMax", x, axes=[1], keepdims=0)
    return g.op("Flatten", g.op("GlobalMaxPool", x), axis=1)


def reshape(g, node, x):
    # 0 keeps the batch axis as it is (allowzero=0, the default).
    dims = np.array([0, *node.params["shape"]], dtype=np.int64)
    return g.op("Reshape", x, g.const("shape", dims))


def upsample2d(g, node, x):
    # Nearest with asymmetric coordinates and floor: output pixel i reads input i // size.
    s = node.params["size"]
    return g.op(
        "Resize",
        x,
        "",
        g.const("scales", [1.0, 1.0, s, s]),
        mode="nearest",
        coordinate_transformation_mode="asymmetric",
        nearest_mode="floor",
    )


def _ones_unless(g, node, name: str, n: int, fill: float) -> str:
    """The node's tensor `name`, or a constant vector of `fill` where affine=false left it out
    (ONNX's normalization ops require a scale)."""
    return g.tensor(node, name) or g.const(f"{name}_{'ones' if fill else 'zeros'}", [fill] * n)


def batchnorm(g, node, x):
    sequence = len(node.input_shape) == 2
    n = node.input_shape[-1 if sequence else 0]
    y = g.op(
        "BatchNormalization",
        _time_first(g, x) if sequence else x,  # ONNX normalizes axis 1: (N, F, T)
        _ones_unless(g, node, "weight", n, 1.0),
        _ones_unless(g, node, "bias", n, 0.0),
        g.tensor(node, "running_mean"),
        g.tensor(node, "running_var"),
        epsilon=float(node.params["eps"]),
    )
    return _time_first(g, y) if sequence else y


def layernorm(g, node, x):
    n = node.input_shape[-1]
    scale = _ones_unless(g, node, "weight", n, 1.0)
    bias = g.tensor(node, "bias") or ""
    return g.op("LayerNormalization", x, scale, bias, axis=-1, epsilon=float(node.params["eps"]))


def rmsnorm(g, node, x):
    # x / sqrt(mean(x^2) + eps) * weight: RMSNormalization is an op only from opset 23.
    mean_square = g.op("ReduceMean", g.op("Mul", x, x), axes=[-1], keepdims=1)
    rms = g.op("Sqrt", g.op("Add", mean_square, g.const("eps", node.params["eps"])))
    y = g.op("Mul", x, g.op("Reciprocal", rms))
    weight = g.tensor(node, "weight")
    return g.op("Mul", y, weight) if weight else y


def normalize(g, node, x):
    # (x - mean) / max(sqrt(var), 1e-7), Keras's Normalization floor; per feature or channel.
    ndim = len(node.input_shape) + 1
    mean = g.per_channel(g.tensor(node, "mean"), ndim)
    var = g.per_channel(g.tensor(node, "var"), ndim)
    std = g.op("Max", g.op("Sqrt", var), g.const("floor", np.float32(1e-7)))
    return g.op("Div", g.op("Sub", x, mean), std)


def prelu(g, node, x):
    # The (C) slopes as (C, 1, 1) for images, so they broadcast per channel; (F) slopes
    # broadcast over the last axis of (N, F) and (N, T, F) as they are.
    slope = g.per_channel(g.tensor(node, "weight"), len(node.input_shape) + 1)
    return g.op("PRelu", x, slope)


INT64 = 7  # onnx.TensorProto.INT64; this module never imports onnx


def embedding(g, node, x):
    # The float ids as int64 rows of the (vocab, dim) table. ONNX has no check of the ids: a
    # fraction is truncated and an out-of-range id is the runtime's error (the data checks and
    # the other backends refuse both).
    ids = g.op("Cast", x, to=INT64)
    return g.op("Gather", g.tensor(node, "weight"), ids, axis=0)


def posembed(g, node, x):
    return g.op("Add", x, g.tensor(node, "weight"))  # (T, F) broadcasts over the batch


# Torch's gate blocks in ONNX's order: LSTM i, f, g, o -> i, o, f, c; GRU r, z, n -> z, r, h.
GATE_ORDER = {"lstm": (0, 3, 1, 2), "gru": (1, 0, 2)}


def _gates(value: np.ndarray, order) -> np.ndarray:
    blocks = np.split(np.asarray(value, np.float32), len(order), axis=0)
    return np.concatenate([blocks[k] for k in order], axis=0)


def _recurrent(g, node, x, op_type: str, **attributes):
    """ONNX's LSTM/GRU on the time-major (T, N, F) input; the registry's tensors reordered to
    ONNX's gates and stacked per direction as W (D, G*u, F), R (D, G*u, u), B (D, 2*G*u)."""
    p, keys, order = node.params, node.keys(), GATE_ORDER[node.op]
    suffixes = ("", "_reverse") if p["bidirectional"] else ("",)

    def stacked(*names):
        per_direction = [
            np.concatenate([_gates(g.weights[keys[n + s]], order) for n in names]) for s in suffixes
        ]
        return g.const("".join(n[-2:] for n in names), np.stack(per_direction))

    w, r, b = stacked("weight_ih"), stacked("weight_hh"), stacked("bias_ih", "bias_hh")
    direction = "bidirectional" if p["bidirectional"] else "forward"
    y, y_h = g.op_outputs(
        op_type,
        2,
        g.op("Transpose", x, perm=[1, 0, 2]),
        w,
        r,
        b,
        hidden_size=p["units"],
        direction=direction,
        **attributes,
    )
    # Y (T, D, N, u) -> (N, T, D*u); Y_h (D, N, u) -> (N, D*u): [forward, backward] as Keras.
    if p["return_sequences"]:
        y = g.op("Transpose", y, perm=[2, 0, 1, 3])
        return g.op("Reshape", y, g.const("shape", np.array([0, 0, -1], dtype=np.int64)))
    y_h = g.op("Transpose", y_h, perm=[1, 0, 2])
    return g.op("Reshape", y_h, g.const("shape", np.array([0, -1], dtype=np.int64)))


def lstm(g, node, x):
    return _recurrent(g, node, x, "LSTM")


def gru(g, node, x):
    # linear_before_reset: r multiplies (R_h h + Rb_h), torch's (and Keras's reset_after) GRU.
    return _recurrent(g, node, x, "GRU", linear_before_reset=1)


def _projection(g, node, x, name: str):
    """x @ W.T + b for the node's `{name}_weight` (out, in) and `{name}_bias` (if any)."""
    weight = g.op("Transpose", g.tensor(node, f"{name}_weight"), perm=[1, 0])
    y, bias = g.op("MatMul", x, weight), g.tensor(node, f"{name}_bias")
    return g.op("Add", y, bias) if bias else y


def attention(g, node, x):
    """Keras's MultiHeadAttention on (x, x), as the NumPy backend computes it: the heads an axis
    (N, h, T, k), softmax(q k^T / sqrt(k)) over the keys, with causal=true a constant (T, T)
    mask of -inf above the diagonal added first (every row keeps its own step, so no row is all
    -inf and Softmax gives no NaN)."""
    p = node.params
    steps, heads, key_dim = node.input_shape[0], p["heads"], p["key_dim"]
    split = g.const("heads", np.array([0, 0, heads, key_dim], dtype=np.int64))

    def per_head(name: str):
        y = g.op("Reshape", _projection(g, node, x, name), split)
        return g.op("Transpose", y, perm=[0, 2, 1, 3])  # (N, h, T, k)

    q, k, v = per_head("q"), per_head("k"), per_head("v")
    scores = g.op("MatMul", q, g.op("Transpose", k, perm=[0, 1, 3, 2]))
    scores = g.op("Mul", scores, g.const("scale", np.float32(key_dim**-0.5)))
    if p["causal"]:
        future = np.triu(np.full((steps, steps), -np.inf, np.float32), 1)
        scores = g.op("Add", scores, g.const("causal_mask", future))
    context = g.op("MatMul", g.op("Softmax", scores, axis=-1), v)
    context = g.op("Transpose", context, perm=[0, 2, 1, 3])
    merged = g.op("Reshape", context, g.const("shape", np.array([0, 0, -1], dtype=np.int64)))
    return _projection(g, node, merged, "o")


def residual(g, node, x, add_nodes):
    return g.op("Add", x, add_nodes(g, node.body, x))


def concat(g, node, x, add_nodes):
    # The feature axis of the batch: the channels of (N, C, H, W), else the last.
    axis = 1 if len(node.output_shape) == 3 else -1
    return g.op("Concat", *(add_nodes(g, b, x) for b in node.branches), axis=axis)


def add(g, node, x, add_nodes):
    return g.op("Sum", *(add_nodes(g, b, x) for b in node.branches))


def _discover(modules) -> dict:
    """Every function named as a registry key or a structural kind in `modules`. This module
    never imports onnx, so tests/test_registry.py checks without it that no key lacks one."""
    table = {}
    for name in (*REGISTRY, *STRUCTURAL):
        found = [getattr(m, name) for m in modules if callable(getattr(m, name, None))]
        if found:
            table[name] = found[0]
    return table


FUNCTIONS = _discover((sys.modules[__name__], activations))
