"""Image layers on channels-first (C, H, W) tensors: conv2d, pooling, flatten."""

from __future__ import annotations

import math

from ..diagnostics import example_shape
from .args import Arg
from .core import INITIALIZERS, activation_arg
from .kinds import LayerKind, Shape, ShapeError, Weight


def image_only(layer: str, shape: Shape) -> Shape:
    if len(shape) != 3:
        hints = {
            1: "declare an image input such as `input 1x28x28`",
            # A (T, F) sequence: the 1-D layers, or a one-channel image if that was meant.
            2: f"(T,F) is a sequence: use the 1-D layers (conv1d, maxpool1d), or write "
            f"1x{'x'.join(map(str, shape))} for a one-channel image",
        }
        raise ShapeError(
            f"{layer} expects a (C,H,W) image input, got shape {example_shape(shape)}",
            hints.get(len(shape), ""),
        )
    return shape


def conv_padding(p: dict) -> tuple[int, int, int, int]:
    """(top, bottom, left, right). `same` puts the odd pixel at the bottom/right, as Keras and
    PyTorch do, so even kernels keep H and W too."""
    if p["padding"] == "same":
        (kh, kw) = p["kernel"]
        return ((kh - 1) // 2, kh // 2, (kw - 1) // 2, kw // 2)
    ph, pw = p["padding"]
    return (ph, ph, pw, pw)


def _window_out(layer: str, size: int, pad: int, k: int, s: int, axis: str, arg: str) -> int:
    out = (size + pad - k) // s + 1
    if size + pad < k or out < 1:
        raise ShapeError(
            f"{layer}: window {k} does not fit the input {axis} {size} (padding {pad})",
            "use a smaller kernel or padding, or remove a pooling layer",
            "E304",
            arg,
        )
    return out


def _conv_shape(p: dict, shape: Shape) -> Shape:
    _, h, w = image_only("conv2d", shape)
    if p["padding"] == "same" and tuple(p["stride"]) != (1, 1):
        raise ShapeError(
            "conv2d: padding=same needs stride 1",
            "use an integer padding, e.g. padding=1 for kernel 3",
            "E305",
            "padding",
        )
    top, bottom, left, right = conv_padding(p)
    (kh, kw), (sh, sw) = p["kernel"], p["stride"]
    return (
        p["filters"],
        _window_out("conv2d", h, top + bottom, kh, sh, "height", "kernel"),
        _window_out("conv2d", w, left + right, kw, sw, "width", "kernel"),
    )


def _conv_weights(p: dict, shape: Shape) -> dict[str, Weight]:
    c, (kh, kw), f = shape[0], p["kernel"], p["filters"]
    w = {"weight": Weight((f, c, kh, kw), p["init"], c * kh * kw, f * kh * kw)}
    if p["bias"]:
        w["bias"] = Weight((f,), "zeros")
    return w


def _pool_complete(p: dict) -> dict:
    return {**p, "stride": p["stride"] or p["size"]}


def _pool_shape(layer: str):
    def rule(p: dict, shape: Shape) -> Shape:
        c, h, w = image_only(layer, shape)
        (kh, kw), (sh, sw), pad = p["size"], p["stride"], p["padding"]
        # PyTorch's limit, and a sensible one: a window must overlap the real image.
        if 2 * pad > min(kh, kw):
            raise ShapeError(
                f"{layer}: padding must be at most half the size, got {pad}",
                code="E205",
                arg="padding",
            )
        return (
            c,
            _window_out(layer, h, 2 * pad, kh, sh, "height", "size"),
            _window_out(layer, w, 2 * pad, kw, sw, "width", "size"),
        )

    return rule


def _pool(name: str, doc: str) -> LayerKind:
    # The two poolings share their arguments, shape rule and so their examples.
    examples = (
        (name, (2, 6, 7)),
        (f"{name} 3 stride=2 padding=1", (2, 6, 7)),
        (f"{name} 3x2 stride=1x2 padding=1", (2, 6, 5)),
        (name, (4,), "E301"),
        (f"{name} 5", (1, 4, 4), "E304"),
        (f"{name} 2 padding=2", (1, 8, 8), "E205"),
    )
    return LayerKind(
        name,
        (
            Arg("size", "size2", (2, 2), positional=True),
            Arg("stride", "size2", None),
            Arg("padding", "int", 0, low=0),
        ),
        doc,
        _pool_shape(name),
        complete=_pool_complete,
        examples=examples,
    )


def _global_shape(layer: str):
    # Over time for a sequence, (T,F) -> (F); over height and width for an image, (C,H,W) -> (C).
    def rule(p: dict, shape: Shape) -> Shape:
        if len(shape) == 2:
            return (shape[1],)
        return (image_only(layer, shape)[0],)

    return rule


def _upsample_shape(p: dict, shape: Shape) -> Shape:
    c, h, w = image_only("upsample2d", shape)
    return (c, h * p["size"], w * p["size"])


def _reshape_shape(p: dict, shape: Shape) -> Shape:
    target = tuple(p["shape"])
    if math.prod(target) != math.prod(shape):
        raise ShapeError(
            f"reshape: shape {example_shape(target)} holds {math.prod(target)} values, the "
            f"input {example_shape(shape)} {math.prod(shape)}",
            arg="shape",
        )
    return target


def _flatten_shape(p: dict, shape: Shape) -> Shape:
    return (math.prod(shape),)


CONV_LAYERS = {
    k.name: k
    for k in (
        LayerKind(
            "conv2d",
            (
                Arg("filters", "int", positional=True, size=True),
                activation_arg(),
                Arg("kernel", "size2", (3, 3)),
                Arg("stride", "size2", (1, 1)),
                Arg("padding", "padding", (0, 0)),
                Arg("bias", "bool", True),
                Arg("init", "choice", "glorot_uniform", choices=INITIALIZERS),
            ),
            "2-D convolution (cross-correlation) over (C,H,W), then the activation",
            _conv_shape,
            _conv_weights,
            examples=(
                ("conv2d 3", (2, 6, 5)),
                ("conv2d 3 relu kernel=2 padding=same", (2, 6, 5)),
                ("conv2d 2 kernel=4 padding=same bias=false", (2, 5, 5)),
                ("conv2d 2 tanh kernel=3x2 stride=2 padding=1", (2, 7, 6)),
                ("conv2d 2 kernel=2x3 stride=3x2 padding=2 init=he_uniform", (2, 5, 6)),
                ("conv2d 3", (4,), "E301"),
                ("conv2d 3", (6, 5), "E301"),
                ("conv2d 3 kernel=5", (1, 4, 4), "E304"),
                ("conv2d 3 padding=same stride=2", (1, 8, 8), "E305"),
                ("conv2d 2 padding=-1", (1, 4, 4), "E205"),
            ),
        ),
        _pool("maxpool2d", "maximum over each window; padding counts as -inf"),
        _pool("avgpool2d", "mean over each window; padded zeros are not counted"),
        LayerKind(
            "globalavgpool",
            (),
            "mean over H and W per channel (C,H,W) -> (C), or over time (T,F) -> (F)",
            _global_shape("globalavgpool"),
            examples=(
                ("globalavgpool", (3, 4, 5)),
                ("globalavgpool", (5, 3)),
                ("globalavgpool", (4,), "E301"),
                ("globalavgpool 2", (3, 4, 4), "E209"),
            ),
        ),
        LayerKind(
            "globalmaxpool",
            (),
            "maximum over H and W per channel (C,H,W) -> (C), or over time (T,F) -> (F)",
            _global_shape("globalmaxpool"),
            examples=(
                ("globalmaxpool", (3, 4, 5)),
                ("globalmaxpool", (5, 3)),
                ("globalmaxpool", (4,), "E301"),
                ("globalmaxpool 2", (3, 4, 4), "E209"),
            ),
        ),
        LayerKind(
            "upsample2d",
            (Arg("size", "int", 2, positional=True, size=True),),
            "nearest-neighbour upsampling: each pixel repeated size x size times",
            _upsample_shape,
            examples=(
                ("upsample2d", (2, 3, 4)),
                ("upsample2d 3", (1, 2, 3)),
                ("upsample2d size=1", (2, 2, 2)),
                ("upsample2d", (4,), "E301"),
                ("upsample2d 0", (1, 2, 2), "E304"),
                ("upsample2d 1.5", (1, 2, 2), "E204"),
            ),
        ),
        LayerKind(
            "reshape",
            (Arg("shape", "shape", positional=True),),
            "the same values in row-major order, in another shape of the same size",
            _reshape_shape,
            examples=(
                ("reshape 2x12", (2, 3, 4)),
                ("reshape 3x2x2", (12,)),
                ("reshape 6", (1, 2, 3)),
                ("reshape 5", (2, 3), "E301"),
                ("reshape", (4,), "E206"),
            ),
        ),
        LayerKind(
            "flatten",
            (),
            "(C,H,W) -> (C*H*W) in C,H,W order",
            _flatten_shape,
            examples=(
                ("flatten", (2, 3, 4)),
                ("flatten", (5,)),
                ("flatten start=1", (2, 3, 4), "E202"),
            ),
        ),
    )
}
