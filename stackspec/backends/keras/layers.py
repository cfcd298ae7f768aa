"""Keras layers: one function per registry key, each taking an IR node and returning the Keras 3
layers that compute it as descriptions (a class of keras.layers, its arguments, and which
weight-file tensors its variables hold), as backends/torch/layers.py does for torch. source.py
prints them; nothing here imports keras.

The emitted model takes stackspec's own input, (N, C, H, W) for images, so every image layer is
built with data_format="channels_first"; Keras's kernels keep their own layouts whatever the data
format, hence the transposes in `weights`. A kind Keras cannot express exactly raises
Unsupported, never a near miss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from ...layers import LAYERS, STRUCTURAL, activation_params, conv_padding

FIRST = "channels_first"
# stackspec layout -> Keras variable: dense (units, F) -> kernel (F, units); conv2d
# (filters, C, kh, kw) -> kernel (kh, kw, C, filters). None keeps the array as it is.
DENSE_AXES = (1, 0)
CONV_AXES = (2, 3, 1, 0)


class Unsupported(Exception):
    """A layer that Keras cannot compute exactly as stackspec does."""


@dataclass(frozen=True)
class Tensor:
    """A weight-file tensor passed as a constructor argument (Normalization's mean)."""

    key: str


@dataclass(frozen=True)
class Layer:
    """`keras.layers.<cls>(*args, **kwargs)`; `weights` lists (weight-file key, axes) in the order
    of the built layer's `weights`, for set_weights; `node` is the IR node it computes."""

    cls: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    weights: tuple[tuple[str, tuple | None], ...] = ()
    node: object = field(default=None, compare=False, repr=False)


def layers(nodes) -> tuple[Layer, ...]:
    """The Keras layers computing `nodes`, from the functions named as their keys."""
    return tuple(replace(k, node=n) for n in nodes for k in layer_function(n.op)(n))


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
    # feature of (N, F) and the channel of (N, C, H, W).
    kwargs = {"axis": 1, "momentum": p["momentum"], "epsilon": p["eps"]}
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


def _pool(cls: str, node) -> tuple[Layer, ...]:
    p = node.params
    padding = "valid"
    if p["padding"]:
        if not _same_is(node):
            raise Unsupported(
                f"Keras pooling pads only as `same`, which is not padding={p['padding']} here"
            )
        padding = "same"
    kwargs = {"strides": p["stride"], "padding": padding, "data_format": FIRST}
    return (Layer(cls, (p["size"],), kwargs),)


def _same_is(node) -> bool:
    """Whether Keras's `same` pooling pads as padding=P does: the same output size and P pixels
    on each side (Keras pads the odd pixel at the end, by replicating it)."""
    p = node.params
    for size, k, s, out in zip(
        node.input_shape[1:], p["size"], p["stride"], node.output_shape[1:], strict=True
    ):
        keras_out = math.ceil(size / s)
        total = max((keras_out - 1) * s + k - size, 0)
        if keras_out != out or total != 2 * p["padding"]:
            return False
    return True


def maxpool2d(node) -> tuple[Layer, ...]:
    return _pool("MaxPooling2D", node)


def avgpool2d(node) -> tuple[Layer, ...]:
    # Keras's average pooling leaves padding out of the count, as ours does.
    return _pool("AveragePooling2D", node)


def globalavgpool(node) -> tuple[Layer, ...]:
    return (Layer("GlobalAveragePooling2D", (), {"data_format": FIRST}),)


def flatten(node) -> tuple[Layer, ...]:
    # Keras's channels_first Flatten moves the channels last first (H, W, C order); ours is
    # (C, H, W) order, which is Keras's plain reshape, its channels_last Flatten.
    return (Layer("Flatten", (), {"data_format": "channels_last"}),)


def residual(node) -> tuple[Layer, ...]:
    raise Unsupported("a keras.Sequential has no residual connection")


# Keras activation functions that compute ours with our defaults, used as `activation="..."`.
STRING_ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh", "softmax", "gelu", "silu", "elu")
STRING_ACTIVATIONS += ("selu", "softplus")


def activation(name: str, params: dict) -> Layer:
    """An activation layer: Keras's own class where it has an argument, else Activation."""
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


# Dispatch by name: every registry key (and residual) whose function this module defines, and the
# activations. tests/test_keras.py fails if a key has none.
LAYER_FUNCTIONS = {
    name: globals()[name] if callable(globals().get(name)) else activation_layer
    for name in (*LAYERS, *STRUCTURAL)
    if callable(globals().get(name)) or name in STRING_ACTIVATIONS or name == "leaky_relu"
}
