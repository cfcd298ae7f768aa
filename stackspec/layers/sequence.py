"""1-D layers on (T, F) sequences, time steps x features: conv1d and the 1-D poolings.

Time-major as Keras's channels_last Conv1D; the weight layout is torch's Conv1d,
(filters, F, kernel), whose backend swaps the axes around its (N, F, T) modules.
"""

from __future__ import annotations

from ..diagnostics import example_shape
from .args import Arg
from .core import INITIALIZERS, activation_arg
from .kinds import LayerKind, Shape, ShapeError, Weight


def sequence_only(layer: str, shape: Shape) -> Shape:
    """`shape` when it is a (T,F) sequence; the shape rule of every layer that takes only one
    (conv1d and the 1-D poolings, lstm, gru, attention)."""
    if len(shape) != 2:
        raise ShapeError(
            f"{layer} expects a (T,F) sequence input, got shape {example_shape(shape)}",
            "declare a sequence input such as `input 20x8` (20 time steps of 8 features)",
        )
    return shape


def conv1d_padding(p: dict) -> tuple[int, int]:
    """(left, right) zeros on the time axis. `same` keeps T (stride 1) and puts the odd step on
    the right, as Keras and torch do; the dilated kernel spans dilation*(kernel-1)+1 steps."""
    if p["padding"] == "same":
        span = p["dilation"] * (p["kernel"] - 1)
        return (span // 2, span - span // 2)
    return (p["padding"][0], p["padding"][0])


def _window_out(layer: str, t: int, pad: int, span: int, stride: int, arg: str) -> int:
    if t + pad < span:
        raise ShapeError(
            f"{layer}: window {span} does not fit the input's {t} time steps (padding {pad})",
            "use a smaller kernel, dilation or padding, or remove a pooling layer",
            "E304",
            arg,
        )
    return (t + pad - span) // stride + 1


def _conv1d_shape(p: dict, shape: Shape) -> Shape:
    t, _ = sequence_only("conv1d", shape)
    if p["padding"] == "same" and p["stride"] != 1:
        raise ShapeError(
            "conv1d: padding=same needs stride 1",
            "use an integer padding, e.g. padding=1 for kernel 3",
            "E305",
            "padding",
        )
    span = p["dilation"] * (p["kernel"] - 1) + 1
    return (
        _window_out("conv1d", t, sum(conv1d_padding(p)), span, p["stride"], "kernel"),
        p["filters"],
    )


def _conv1d_weights(p: dict, shape: Shape) -> dict[str, Weight]:
    f, k, filters = shape[1], p["kernel"], p["filters"]
    # Keras's fans for its (kernel, F, filters) kernel: the same numbers.
    w = {"weight": Weight((filters, f, k), p["init"], f * k, filters * k)}
    if p["bias"]:
        w["bias"] = Weight((filters,), "zeros")
    return w


def _pool_complete(p: dict) -> dict:
    return {**p, "stride": p["stride"] or p["size"]}


def _pool_shape(layer: str):
    def rule(p: dict, shape: Shape) -> Shape:
        t, f = sequence_only(layer, shape)
        size, pad = p["size"], p["padding"]
        # torch's limit, as the 2-D poolings': a window must overlap the real sequence.
        if 2 * pad > size:
            raise ShapeError(
                f"{layer}: padding must be at most half the size, got {pad}",
                code="E205",
                arg="padding",
            )
        return (_window_out(layer, t, 2 * pad, size, p["stride"], "size"), f)

    return rule


def _pool(name: str, doc: str) -> LayerKind:
    examples = (
        (name, (6, 3)),
        (f"{name} 3 stride=2 padding=1", (7, 2)),
        (f"{name} 2 stride=1", (5, 2)),
        (name, (2, 4, 4), "E301"),
        (f"{name} 5", (4, 2), "E304"),
        (f"{name} 2 padding=2", (8, 2), "E205"),
    )
    return LayerKind(
        name,
        (
            Arg("size", "int", 2, positional=True, size=True),
            Arg("stride", "int", None, size=True),
            Arg("padding", "int", 0, low=0),
        ),
        doc,
        _pool_shape(name),
        complete=_pool_complete,
        examples=examples,
    )


SEQUENCE_LAYERS = {
    k.name: k
    for k in (
        LayerKind(
            "conv1d",
            (
                Arg("filters", "int", positional=True, size=True),
                activation_arg(),
                Arg("kernel", "int", 3, size=True),
                Arg("stride", "int", 1, size=True),
                Arg("padding", "padding", (0, 0)),
                Arg("dilation", "int", 1, size=True),
                Arg("bias", "bool", True),
                Arg("init", "choice", "glorot_uniform", choices=INITIALIZERS),
            ),
            "1-D convolution (cross-correlation) over time, (T,F) -> (T',filters), then the "
            "activation",
            _conv1d_shape,
            _conv1d_weights,
            examples=(
                ("conv1d 3", (6, 2)),
                ("conv1d 2 relu kernel=2 padding=same", (5, 3)),
                ("conv1d 2 tanh kernel=3 stride=2 padding=1 bias=false", (7, 2)),
                ("conv1d 2 kernel=2 dilation=2 padding=same init=he_uniform", (6, 2)),
                ("conv1d 2 softmax kernel=3 dilation=2", (8, 2)),
                ("conv1d 3", (2, 4, 4), "E301"),
                ("conv1d 3", (4,), "E301"),
                ("conv1d 2 kernel=5", (4, 2), "E304"),
                ("conv1d 2 padding=same stride=2", (8, 2), "E305"),
                ("conv1d 2 dilation=0", (8, 2), "E304"),
            ),
        ),
        _pool("maxpool1d", "maximum over each window of time steps, per feature; padding is -inf"),
        _pool("avgpool1d", "mean over each window of time steps; padded zeros are not counted"),
    )
}
