"""One function per Keras class, named as the class: its config and variables -> spec lines and
tensors (convert.py's Stack). `weights` is the layer's variables in Keras's order, or None when
reading a config.json. A setting stackspec cannot express exactly raises Refused."""

from __future__ import annotations

import numpy as np

from .convert import ACTIVATIONS, INITIALIZERS, Refused, Stack, dims, number, pair, same_padding

KERNEL_TO_OURS = (3, 2, 0, 1)  # Keras conv kernel (kh, kw, C, filters) -> (filters, C, kh, kw)


def _get(weights, i: int):
    return None if weights is None else weights[i]


def _activation(stack: Stack, name, image: bool) -> tuple[str, str]:
    """(the activation written in the call, a line to add after it) for Keras's `activation`."""
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise Refused(f"activation {name!r} has no stackspec equivalent")
    ours = ACTIVATIONS[name]
    if ours in ("softmax", "log_softmax") and image and stack.layout == "channels_last":
        raise Refused(f"{ours} over an image's channels has no stackspec equivalent")
    if " " in ours:  # an argument that a dense/conv2d activation cannot carry
        return "", ours
    return ("" if ours == "linear" else " " + ours), ""


def _init(stack: Stack, cfg: dict) -> str:
    init = cfg.get("kernel_initializer") or {}
    cls = init.get("class_name") if isinstance(init, dict) else init
    if cls in (None, "GlorotUniform"):
        return ""
    if cls in INITIALIZERS:
        return f" init={INITIALIZERS[cls]}"
    stack.notes.append(f"initializer {cls} has no stackspec equivalent; glorot_uniform it is")
    return ""


def _no_extras(cfg: dict) -> None:
    for key in ("kernel_regularizer", "bias_regularizer", "activity_regularizer"):
        if cfg.get(key):
            raise Refused(f"{key} has no stackspec equivalent")
    for key in ("kernel_constraint", "bias_constraint"):
        if cfg.get(key):
            raise Refused(f"{key} has no stackspec equivalent")


def Dense(stack: Stack, cfg: dict, weights) -> None:
    _no_extras(cfg)
    act, after = _activation(stack, cfg.get("activation", "linear"), False)
    bias = cfg.get("use_bias", True)
    line = f"dense {cfg['units']}{act}{'' if bias else ' bias=false'}{_init(stack, cfg)}"
    kernel = _get(weights, 0)
    if kernel is not None:
        kernel = stack.features(kernel).T
    stack.add(line, weight=kernel, bias=_get(weights, 1) if bias else None)
    stack.perm = None
    if after:
        stack.add(after)


def Conv2D(stack: Stack, cfg: dict, weights) -> None:
    _no_extras(cfg)
    if pair(cfg.get("dilation_rate", 1), "") != (1, 1):
        raise Refused("dilation_rate has no stackspec equivalent")
    if cfg.get("groups", 1) != 1:
        raise Refused("groups has no stackspec equivalent")
    kernel, stride = pair(cfg["kernel_size"], ""), pair(cfg.get("strides", 1), "")
    act, after = _activation(stack, cfg.get("activation", "linear"), True)
    line = f"conv2d {cfg['filters']}{act}"
    if kernel != (3, 3):
        line += f" kernel={dims(kernel)}"
    if stride != (1, 1):
        line += f" stride={dims(stride)}"
    if cfg.get("padding", "valid") == "same":
        line += " padding=same" if stride == (1, 1) else _padding(stack, kernel, stride, "conv2d")
    elif cfg.get("padding", "valid") != "valid":
        raise Refused(f"padding {cfg['padding']!r} has no stackspec equivalent")
    add_conv(stack, cfg, weights, line, KERNEL_TO_OURS, after)


def add_conv(stack: Stack, cfg: dict, weights, line: str, axes: tuple, after: str) -> None:
    """A convolution's line with its bias and init settings, its kernel transposed by `axes`,
    then its activation's own line if it has one (Conv2D's and Conv1D's)."""
    bias = cfg.get("use_bias", True)
    line += ("" if bias else " bias=false") + _init(stack, cfg)
    w = _get(weights, 0)
    stack.add(
        line,
        weight=None if w is None else np.transpose(w, axes),
        bias=_get(weights, 1) if bias else None,
    )
    if after:
        stack.add(after)


def _padding(stack: Stack, size, stride, what: str) -> str:
    p = same_padding(stack, size, stride, what)
    return f" padding={p}" if p else ""


def _pool(op: str, stack: Stack, cfg: dict) -> None:
    size = pair(cfg.get("pool_size", 2), "")
    stride = pair(cfg.get("strides") or size, "")
    line = op if size == (2, 2) else f"{op} {dims(size)}"
    if stride != size:
        line += f" stride={dims(stride)}"
    if cfg.get("padding", "valid") == "same":
        line += _padding(stack, size, stride, op)
    stack.add(line)


def MaxPooling2D(stack: Stack, cfg: dict, weights) -> None:
    _pool("maxpool2d", stack, cfg)


def AveragePooling2D(stack: Stack, cfg: dict, weights) -> None:
    # Keras's `same` average pooling leaves the padding out of the count, as ours does.
    _pool("avgpool2d", stack, cfg)


def GlobalAveragePooling2D(stack: Stack, cfg: dict, weights) -> None:
    if cfg.get("keepdims"):
        raise Refused("keepdims=True has no stackspec equivalent")
    stack.add("globalavgpool")


def GlobalMaxPooling2D(stack: Stack, cfg: dict, weights) -> None:
    if cfg.get("keepdims"):
        raise Refused("keepdims=True has no stackspec equivalent")
    stack.add("globalmaxpool")


def UpSampling2D(stack: Stack, cfg: dict, weights) -> None:
    size = pair(cfg.get("size", 2), "size")
    if size[0] != size[1]:
        raise Refused(f"size {size[0]}x{size[1]}: stackspec's upsample2d scales both sides alike")
    if cfg.get("interpolation", "nearest") != "nearest":
        raise Refused(f"interpolation {cfg['interpolation']!r}: upsample2d is nearest")
    stack.add("upsample2d" if size[0] == 2 else f"upsample2d {size[0]}")


def PReLU(stack: Stack, cfg: dict, weights) -> None:
    """One slope per feature, or per channel of an image (Keras's shared_axes over H and W)."""
    shape = stack.shape()
    shared = sorted(cfg.get("shared_axes") or [])
    if len(shape) == 3:
        spatial = [1, 2] if stack.layout == "channels_last" else [2, 3]
        if shared != spatial:
            raise Refused("slopes per pixel (shared_axes not H and W) have no stackspec equivalent")
    elif shared:
        raise Refused(f"shared_axes {shared} on features have no stackspec equivalent")
    for key in ("alpha_regularizer", "alpha_constraint"):
        if cfg.get(key):
            raise Refused(f"{key} has no stackspec equivalent")
    alpha = _get(weights, 0)
    slopes = None if alpha is None else np.asarray(alpha, np.float32).reshape(-1)
    if slopes is not None and len(shape) == 1:
        slopes = stack.features(slopes)  # after a Flatten: into our feature order
    stack.add("prelu", weight=slopes)


def Flatten(stack: Stack, cfg: dict, weights) -> None:
    shape = stack.shape()
    if len(shape) == 3:
        # Keras's order of the flat features, as our axes (C=0, H=1, W=2): its tensor is
        # (H, W, C) in channels_last, and a channels_first Flatten moves the channels last.
        order = (1, 2, 0) if stack.layout == "channels_last" else (0, 1, 2)
        if cfg.get("data_format") == "channels_first":
            order = (*order[1:], order[0])
        keras_index = np.arange(int(np.prod(shape))).reshape([shape[a] for a in order])
        stack.perm = keras_index.transpose(np.argsort(order)).ravel()
    stack.add("flatten")


def Dropout(stack: Stack, cfg: dict, weights) -> None:
    if cfg.get("noise_shape"):
        raise Refused("noise_shape has no stackspec equivalent")
    stack.add(f"dropout {number(cfg['rate'])}")


def _affine(cfg: dict) -> bool:
    if bool(cfg.get("center", True)) != bool(cfg.get("scale", True)):
        raise Refused("center and scale differ; stackspec's affine=false drops both")
    return bool(cfg.get("center", True))


def BatchNormalization(stack: Stack, cfg: dict, weights) -> None:
    if cfg.get("renorm"):
        raise Refused("renorm has no stackspec equivalent")
    if stack.axis(cfg.get("axis", -1)) != 1:
        raise Refused("it normalizes another axis than the features or channels")
    affine = _affine(cfg)
    line = "batchnorm"
    # Our defaults are Keras's (momentum 0.99, the fraction kept; epsilon 1e-3).
    if cfg.get("momentum", 0.99) != 0.99:
        line += f" momentum={number(cfg['momentum'])}"
    if cfg.get("epsilon", 0.001) != 0.001:
        line += f" eps={number(cfg['epsilon'])}"
    if not affine:
        line += " affine=false"
    names = ("weight", "bias", "running_mean", "running_var")[0 if affine else 2 :]
    tensors = {n: stack.features(_get(weights, i)) for i, n in enumerate(names)}
    stack.add(line, **tensors)


def LayerNormalization(stack: Stack, cfg: dict, weights) -> None:
    if cfg.get("rms_scaling"):
        raise Refused("rms_scaling has no stackspec equivalent; use RMSNormalization")
    if stack.axis(cfg.get("axis", -1)) != len(stack.shape()):
        raise Refused("stackspec's layernorm normalizes over the last axis (W of an image) only")
    affine = _affine(cfg)
    line = "layernorm"
    if cfg.get("epsilon", 0.001) != 0.00001:  # Keras's default is 1e-3, ours 1e-5
        line += f" eps={number(cfg.get('epsilon', 0.001))}"
    if not affine:
        line += " affine=false"
    w, b = (_get(weights, 0), _get(weights, 1)) if affine else (None, None)
    stack.add(line, weight=stack.features(w), bias=stack.features(b))


def RMSNormalization(stack: Stack, cfg: dict, weights) -> None:
    if stack.axis(cfg.get("axis", -1)) != len(stack.shape()):
        raise Refused("stackspec's rmsnorm normalizes over the last axis (W of an image) only")
    eps = cfg.get("epsilon", 1e-6)
    line = "rmsnorm" if eps == 1e-6 else f"rmsnorm eps={number(eps)}"
    stack.add(line, weight=stack.features(_get(weights, 0)))


def Normalization(stack: Stack, cfg: dict, weights) -> None:
    if cfg.get("invert"):
        raise Refused("invert=True has no stackspec equivalent")
    if stack.axis(cfg.get("axis", -1)) != 1:
        raise Refused("it normalizes another axis than the features or channels")
    n = stack.shape()[0]
    if cfg.get("mean") is not None:  # given as arguments: part of the config, not variables
        mean, var = cfg["mean"], cfg["variance"]
    elif weights is not None:  # adapted: the variables mean, variance (and a count)
        mean, var = weights[0], weights[1]
    else:
        mean = var = None
    tensors = {}
    if mean is not None:
        tensors = {
            k: np.broadcast_to(np.asarray(v, np.float32).ravel(), (n,))
            for k, v in (("mean", mean), ("var", var))
        }
    stack.add("normalize", **tensors)


def Activation(stack: Stack, cfg: dict, weights) -> None:
    act, after = _activation(stack, cfg["activation"], len(stack.shape()) == 3)
    stack.add(act.strip() or after or "linear")


def ReLU(stack: Stack, cfg: dict, weights) -> None:
    if cfg.get("max_value") == 6 and not cfg.get("threshold", 0) and not cfg.get("negative_slope"):
        stack.add("relu6")
        return
    if cfg.get("max_value") is not None or cfg.get("threshold", 0):
        raise Refused("max_value (but 6) and threshold have no stackspec equivalent")
    slope = cfg.get("negative_slope", 0)
    stack.add("relu" if not slope else f"leaky_relu slope={number(slope)}")


def LeakyReLU(stack: Stack, cfg: dict, weights) -> None:
    slope = cfg.get("negative_slope", cfg.get("alpha", 0.3))
    stack.add(f"leaky_relu slope={number(slope)}")


def ELU(stack: Stack, cfg: dict, weights) -> None:
    alpha = cfg.get("alpha", 1.0)
    stack.add("elu" if alpha == 1.0 else f"elu alpha={number(alpha)}")


def Softmax(stack: Stack, cfg: dict, weights) -> None:
    shape = stack.shape()
    if stack.axis(cfg.get("axis", -1)) != len(shape):
        raise Refused("stackspec's softmax is over the last axis (W of an image) only")
    stack.add("softmax")


def Identity(stack: Stack, cfg: dict, weights) -> None:
    stack.add("linear")


LAYERS = {
    name: f
    for name, f in dict(globals()).items()
    if callable(f) and name[:1].isupper() and name not in ("Refused", "Stack")
}
