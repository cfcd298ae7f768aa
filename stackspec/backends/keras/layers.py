"""Keras layers: one function per registry key, each taking an IR node and returning the Keras 3
steps that compute it as descriptions (a class of keras.layers, its arguments, and which
weight-file tensors its variables hold; a keras.ops call; a residual's body and its Add), as
backends/torch/layers.py does for torch. source.py prints them as a functional model, one
statement a step; nothing here imports keras.

The emitted model takes stackspec's own input, (N, C, H, W) for images, so every image layer is
built with data_format="channels_first"; Keras's kernels keep their own layouts whatever the data
format, hence the transposes in `weights`. A kind Keras cannot express exactly raises
Unsupported, never a near miss.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace

from ...layers import LAYERS, STRUCTURAL, activation_params, conv1d_padding, conv_padding
from .lookups import embedding, posembed  # noqa: F401 (dispatched by name)
from .steps import Join, Layer, Op, RealMean, Residual, Tensor, Unsupported

FIRST = "channels_first"
# stackspec layout -> Keras variable: dense (units, F) -> kernel (F, units); conv2d
# (filters, C, kh, kw) -> kernel (kh, kw, C, filters). None keeps the array as it is.
DENSE_AXES = (1, 0)
CONV_AXES = (2, 3, 1, 0)
CONV1D_AXES = (2, 1, 0)  # conv1d (filters, F, kernel) -> kernel (kernel, F, filters)


def layers(nodes) -> tuple:
    """The Keras steps computing `nodes`, from the functions named as their keys; every Keras
    layer named after its node and class (`n3_conv2d`, `n1_0_dense` in a residual's body)."""
    steps = []
    for node in nodes:
        taken: list[str] = []
        steps += [_named(step, node, taken) for step in layer_function(node.op)(node)]
    return tuple(steps)


def _named(step, node, taken: list[str]):
    if isinstance(step, Layer):
        snake = re.sub(r"([a-z])([A-Z])", r"\1_\2", re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", step.cls))
        # Node ids are digits and dots, so names from different nodes never meet.
        base = name = f"n{node.id.replace('.', '_')}_{snake.lower()}"
        n = 0
        while name in taken:
            n += 1
            name = f"{base}_{n}"
        taken.append(name)
        return replace(step, node=node, name=name)
    if isinstance(step, RealMean):
        pad, pool = _named(step.pad, node, taken), _named(step.pool, node, taken)
        return replace(step, node=node, pad=pad, pool=pool)
    if isinstance(step, Residual):  # its body's steps are named by their own nodes
        return replace(step, node=node, add=_named(step.add, node, taken))
    if isinstance(step, Join):
        return replace(step, node=node, merge=_named(step.merge, node, taken))
    return replace(step, node=node)


def keras_layers(steps):
    """Every Layer of `steps`, residual bodies included, in order."""
    for step in steps:
        if isinstance(step, Layer):
            yield step
        elif isinstance(step, RealMean):
            yield from (step.pad, step.pool)
        elif isinstance(step, Residual):
            yield from keras_layers(step.body)
            yield step.add
        elif isinstance(step, Join):
            for branch in step.branches:
                yield from keras_layers(branch)
            yield step.merge


def layer_function(op: str):
    try:
        return LAYER_FUNCTIONS[op]
    except KeyError:
        raise Unsupported(f"{op} has no Keras layer here") from None


def _then(name: str) -> tuple[Layer, ...]:
    """dense/conv2d's activation as its own layer, with the registry's defaults."""
    return () if name == "linear" else (activation(name, activation_params(name)),)


def _activation_kwarg(name: str) -> tuple[dict, tuple[Layer, ...]]:
    """Keras's `activation=` where its function computes ours with our defaults, else a layer
    after: Keras's leaky_relu slope is 0.2, ours 0.01."""
    if name in STRING_ACTIVATIONS:
        return ({"activation": name} if name != "linear" else {}), ()
    return {}, _then(name)


def dense(node) -> tuple[Layer, ...]:
    p, keys = node.params, node.keys()
    kwargs, after = _activation_kwarg(p["activation"])
    weights = ((keys["weight"], DENSE_AXES),)
    if p["bias"]:
        weights += ((keys["bias"], None),)
    return (Layer("Dense", (p["units"],), {**kwargs, "use_bias": p["bias"]}, weights), *after)


def conv2d(node) -> tuple[Layer, ...]:
    p, keys = node.params, node.keys()
    top, bottom, left, right = conv_padding(p)
    # An explicit pad, then a `valid` convolution: the same pixels for every padding we allow.
    pad = ()
    if any((top, bottom, left, right)):
        padding = ((top, bottom), (left, right))
        pad = (Layer("ZeroPadding2D", (padding,), {"data_format": FIRST}),)
    kwargs, after = _activation_kwarg(p["activation"])
    weights = ((keys["weight"], CONV_AXES),)
    if p["bias"]:
        weights += ((keys["bias"], None),)
    conv = Layer(
        "Conv2D",
        (p["filters"], p["kernel"]),
        {"strides": p["stride"], "padding": "valid", "data_format": FIRST, **kwargs}
        | {"use_bias": p["bias"]},
        weights,
    )
    return (*pad, conv, *after)


def dropout(node) -> tuple[Layer, ...]:
    return (Layer("Dropout", (node.params["rate"],)),)


def batchnorm(node) -> tuple[Layer, ...]:
    p, keys = node.params, node.keys()
    # Keras's momentum is ours, the fraction of the running statistic kept. Axis 1 is the
    # feature of (N, F) and the channel of (N, C, H, W); a sequence's features are last.
    axis = -1 if len(node.input_shape) == 2 else 1
    kwargs = {"axis": axis, "momentum": p["momentum"], "epsilon": p["eps"]}
    kwargs |= {"center": p["affine"], "scale": p["affine"]}
    names = ("weight", "bias") if p["affine"] else ()
    weights = tuple((keys[n], None) for n in (*names, "running_mean", "running_var"))
    return (Layer("BatchNormalization", (), kwargs, weights),)


def normalize(node) -> tuple[Layer, ...]:
    # Keras's Normalization computes (x - mean) / max(sqrt(var), 1e-7), as §11 says; its mean
    # and variance are constructor arguments, not variables.
    keys = node.keys()
    kwargs = {"axis": 1, "mean": Tensor(keys["mean"]), "variance": Tensor(keys["var"])}
    return (Layer("Normalization", (), kwargs),)


def layernorm(node) -> tuple[Layer, ...]:
    p, keys = node.params, node.keys()
    kwargs = {"axis": -1, "epsilon": p["eps"], "center": p["affine"], "scale": p["affine"]}
    weights = tuple((keys[n], None) for n in ("weight", "bias") if p["affine"])
    return (Layer("LayerNormalization", (), kwargs, weights),)


def rmsnorm(node) -> tuple[Layer, ...]:
    p, keys = node.params, node.keys()
    kwargs = {"axis": -1, "epsilon": p["eps"]}
    if not p["affine"]:
        # Keras's RMSNormalization always has a scale; initial ones, frozen, is no scale.
        return (Layer("RMSNormalization", (), {**kwargs, "trainable": False}),)
    return (Layer("RMSNormalization", (), kwargs, ((keys["weight"], None),)),)


def _pool(cls: str, node) -> Layer:
    p = node.params
    kwargs = {"strides": p["stride"], "padding": "valid", "data_format": FIRST}
    return Layer(cls, (p["size"],), kwargs)


def _sides(node) -> tuple:
    return ((node.params["padding"],) * 2,) * 2


def maxpool2d(node) -> tuple:
    # stackspec pads with -inf, so the padding never wins a window (every window holds a real
    # pixel: padding <= size / 2); ZeroPadding2D would win over negative inputs, and Keras's
    # `same` pads other pixels than `padding=P` at most sizes.
    pool = _pool("MaxPooling2D", node)
    if not node.params["padding"]:
        return (pool,)
    pad = Op("pad", (((0, 0), (0, 0), *_sides(node)),), {"constant_values": -math.inf})
    return (pad, pool)


def avgpool2d(node) -> tuple:
    pool = _pool("AveragePooling2D", node)
    if not node.params["padding"]:
        return (pool,)
    # stackspec leaves padding out of each window's count; a valid pooling of a zero-padded
    # batch counts it, so divide by the same pooling of ones (RealMean).
    pad = Layer("ZeroPadding2D", (_sides(node),), {"data_format": FIRST})
    return (RealMean(pad, pool),)


# Our (T, F) sequences are Keras's channels_last (steps, features): its 1-D layers' default.


def conv1d(node) -> tuple[Layer, ...]:
    p, keys = node.params, node.keys()
    if p["stride"] > 1 and p["dilation"] > 1:
        raise Unsupported("conv1d: Keras's Conv1D refuses stride > 1 with dilation > 1")
    left, right = conv1d_padding(p)
    # An explicit pad, then a `valid` convolution, as conv2d.
    pad = (Layer("ZeroPadding1D", ((left, right),)),) if left or right else ()
    kwargs, after = _activation_kwarg(p["activation"])
    weights = ((keys["weight"], CONV1D_AXES),)
    if p["bias"]:
        weights += ((keys["bias"], None),)
    conv = Layer(
        "Conv1D",
        (p["filters"], p["kernel"]),
        {"strides": p["stride"], "padding": "valid", "dilation_rate": p["dilation"], **kwargs}
        | {"use_bias": p["bias"]},
        weights,
    )
    return (*pad, conv, *after)


def maxpool1d(node) -> tuple:
    p = node.params
    pool = Layer("MaxPooling1D", (p["size"],), {"strides": p["stride"], "padding": "valid"})
    if not p["padding"]:
        return (pool,)
    # -inf padding, never a winner (see maxpool2d).
    side = (p["padding"],) * 2
    return (Op("pad", (((0, 0), side, (0, 0)),), {"constant_values": -math.inf}), pool)


def avgpool1d(node) -> tuple:
    p = node.params
    pool = Layer("AveragePooling1D", (p["size"],), {"strides": p["stride"], "padding": "valid"})
    if not p["padding"]:
        return (pool,)
    return (RealMean(Layer("ZeroPadding1D", ((p["padding"],) * 2,)), pool),)


def globalavgpool(node) -> tuple[Layer, ...]:
    if len(node.input_shape) == 2:
        return (Layer("GlobalAveragePooling1D"),)
    return (Layer("GlobalAveragePooling2D", (), {"data_format": FIRST}),)


def globalmaxpool(node) -> tuple[Layer, ...]:
    if len(node.input_shape) == 2:
        return (Layer("GlobalMaxPooling1D"),)
    return (Layer("GlobalMaxPooling2D", (), {"data_format": FIRST}),)


def reshape(node) -> tuple[Layer, ...]:
    # Keras's Reshape is row-major over each example, whatever the data format: ours.
    return (Layer("Reshape", (tuple(node.params["shape"]),)),)


def upsample2d(node) -> tuple[Layer, ...]:
    kwargs = {"data_format": FIRST, "interpolation": "nearest"}
    return (Layer("UpSampling2D", (node.params["size"],), kwargs),)


def flatten(node) -> tuple[Layer, ...]:
    # Keras's channels_first Flatten moves the channels last first (H, W, C order); ours is
    # (C, H, W) order, which is Keras's plain reshape, its channels_last Flatten.
    return (Layer("Flatten", (), {"data_format": "channels_last"}),)


def prelu(node) -> tuple[Layer, ...]:
    # Keras's PReLU has one slope per element unless axes are shared: sharing H and W leaves one
    # per channel, (C, 1, 1), and sharing a sequence's time axis one per feature, (1, F), which
    # `load` reshapes our (C) or (F) slopes to. Keras starts its slopes at 0 and ours at 0.25;
    # the weight file sets them.
    shared = {3: [2, 3], 2: [1]}.get(len(node.input_shape))
    kwargs = {"shared_axes": shared} if shared else {}
    return (Layer("PReLU", (), kwargs, ((node.keys()["weight"], None),)),)


# Torch's gate blocks in Keras's order: LSTM i, f, g, o is Keras's i, f, c, o (the same); GRU
# r, z, n -> Keras's z, r, h.
KERAS_GATES = {"lstm": None, "gru": (1, 0, 2)}


def _recurrent(node, cls: str, kwargs: dict) -> tuple[Layer, ...]:
    """Keras's LSTM/GRU (in Bidirectional, concatenating [forward, backward] as ours) with
    kernels (F, G*u) and (u, G*u): ours transposed. Keras's LSTM has one bias, the sum of our
    two; its GRU (reset_after=True) keeps both, stacked (2, 3u)."""
    p, keys, gates = node.params, node.keys(), KERAS_GATES[node.op]
    combine = "sum" if node.op == "lstm" else "stack"

    def variables(suffix: str) -> tuple:
        return (
            (keys["weight_ih" + suffix], DENSE_AXES, gates),
            (keys["weight_hh" + suffix], DENSE_AXES, gates),
            ((keys["bias_ih" + suffix], keys["bias_hh" + suffix]), None, gates, combine),
        )

    kwargs = {"return_sequences": p["return_sequences"], **kwargs}
    if not p["bidirectional"]:
        return (Layer(cls, (p["units"],), kwargs, variables("")),)
    # Bidirectional's weights: the forward layer's, then the backward one's.
    inner = Layer(cls, (p["units"],), kwargs)
    weights = variables("") + variables("_reverse")
    return (Layer("Bidirectional", (inner,), {"merge_mode": "concat"}, weights),)


def lstm(node) -> tuple[Layer, ...]:
    # Keras's defaults are torch's math: tanh and sigmoid, no peepholes; unit_forget_bias
    # changes only the initial bias, which the weight file sets.
    return _recurrent(node, "LSTM", {})


def gru(node) -> tuple[Layer, ...]:
    return _recurrent(node, "GRU", {"reset_after": True})


def attention(node) -> tuple[Layer, ...]:
    """MultiHeadAttention called on (x, x). Its variables are q, k, v, output, each kernel then
    bias: kernels (F, heads, key_dim) and (heads, key_dim, F), biases (heads, key_dim) and (F),
    which are our nn.Linear tensors transposed, then reshaped (source.py reshapes every value
    to its variable's shape)."""
    p, keys = node.params, node.keys()
    weights = tuple((k, DENSE_AXES if n.endswith("weight") else None) for n, k in keys.items())
    kwargs = {"num_heads": p["heads"], "key_dim": p["key_dim"], "use_bias": p["bias"]}
    call = f"x, x, use_causal_mask={p['causal']}"
    return (Layer("MultiHeadAttention", (), kwargs, weights, call=call),)


def residual(node) -> tuple:
    return (Residual(layers(node.body), Layer("Add")),)


def concat(node) -> tuple:
    # Channels-first images join on axis 1, the channels; (F) and (T, F) on the last.
    axis = 1 if len(node.output_shape) == 3 else -1
    return (
        Join(tuple(layers(b) for b in node.branches), Layer("Concatenate", (), {"axis": axis})),
    )


def add(node) -> tuple:
    return (Join(tuple(layers(b) for b in node.branches), Layer("Add")),)


# Keras activation functions that compute ours with our defaults, used as `activation="..."`.
STRING_ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh", "softmax", "gelu", "silu", "elu")
STRING_ACTIVATIONS += ("selu", "softplus", "relu6", "mish", "hard_sigmoid", "hard_swish")
# Keras 3's hard_sigmoid is relu6(x + 3) / 6 (Keras 2's was 0.2 x + 0.5), and "hard_swish" is
# its name for hard_silu, x * hard_sigmoid(x): both ours.
STRING_ACTIVATIONS += ("log_softmax",)
# Activations with a step of their own: gelu's string means the exact one.
OWN_STEP = ("elu", "leaky_relu", "softmax", "gelu_tanh")


def activation(name: str, params: dict) -> Layer | Op:
    """An activation layer: Keras's own class where it has an argument, else Activation."""
    if name == "gelu_tanh":
        return Op("gelu", (), {"approximate": True})
    if name == "elu":
        return Layer("ELU", (), {"alpha": params["alpha"]})
    if name == "leaky_relu":
        return Layer("LeakyReLU", (), {"negative_slope": params["slope"]})
    if name == "softmax":
        return Layer("Softmax", (), {"axis": -1})
    assert name in STRING_ACTIVATIONS, name
    return Layer("Activation", (name,))


def activation_layer(node) -> tuple[Layer, ...]:
    return (activation(node.op, node.params),)


# Dispatch by name: the functions named as registry keys (tests/test_keras.py checks).
LAYER_FUNCTIONS = {
    name: globals()[name] if callable(globals().get(name)) else activation_layer
    for name in (*LAYERS, *STRUCTURAL)
    if callable(globals().get(name)) or name in STRING_ACTIVATIONS or name in OWN_STEP
}
