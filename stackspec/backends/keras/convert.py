"""Keras Sequential -> spec lines and weights in stackspec's layouts (`stackspec import-keras`).

One function per Keras class (LAYERS below) appends the spec lines of its layer and the tensors
its variables become. Each line is one stackspec layer, so line j is node j and its tensors are
`j.weight`, ...; a spec compiled from the lines so far gives the current shape where a layer
needs it, and a compile error names the Keras layer whose line it is.

Images: Keras's default is channels_last, (H, W, C) per example; stackspec's is (C, H, W). The
input becomes CxHxW, kernels are transposed, and after a Flatten of an image, whose Keras order
is (H, W, C) whatever its data_format, the per-feature tensors that follow (the next Dense's
kernel rows, a BatchNormalization's statistics) are permuted into (C, H, W) order (`perm`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ...compiler.pipeline import compile_source
from .archive import KerasModel, fail

# Keras activation names -> ours, where Keras's function computes ours with our defaults.
ACTIVATIONS = {name: name for name in ("linear", "relu", "sigmoid", "tanh", "softmax", "gelu")}
ACTIVATIONS |= {name: name for name in ("silu", "elu", "selu", "softplus")}
ACTIVATIONS |= {"swish": "silu", "leaky_relu": "leaky_relu slope=0.2"}  # Keras's slope is 0.2
ACTIVATIONS |= {name: name for name in ("relu6", "hard_sigmoid", "mish", "log_softmax")}
ACTIVATIONS |= {"hard_silu": "hard_swish", "hard_swish": "hard_swish"}
INITIALIZERS = {
    "GlorotUniform": "glorot_uniform",
    "GlorotNormal": "glorot_normal",
    "HeUniform": "he_uniform",
    "HeNormal": "he_normal",
    "LecunNormal": "lecun_normal",
    "Zeros": "zeros",
}
IMAGE_LAYERS = (
    "Conv2D",
    "MaxPooling2D",
    "AveragePooling2D",
    "GlobalAveragePooling2D",
    "GlobalMaxPooling2D",
    "UpSampling2D",
)


def number(x) -> str:
    """A number as a spec writes it: Keras stores float32 settings widened (0.0010000000474974513),
    so the shorter of the float64 and the float32 spelling."""
    if isinstance(x, bool) or not isinstance(x, int | float):
        raise TypeError(x)
    if isinstance(x, int) or float(x).is_integer() and abs(x) < 1e15:
        return str(int(x))
    wide, narrow = repr(float(x)), str(np.float32(x))
    return (
        narrow if len(narrow) < len(wide) and float(np.float32(narrow)) == np.float32(x) else wide
    )


def pair(v, what: str) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


def dims(v: tuple[int, ...]) -> str:
    return str(v[0]) if len(set(v)) == 1 else "x".join(map(str, v))


class Refused(Exception):
    """A Keras layer or setting that stackspec cannot express exactly; says why."""


@dataclass
class Stack:
    """The spec being built: its lines, which Keras layer wrote each, the tensors so far."""

    model: KerasModel
    input: tuple[int, ...]  # ours: (F), (T) ids, (T, F) or (C, H, W)
    layout: str  # channels_last or channels_first: the Keras tensors' layout of images
    lines: list[str] = field(default_factory=list)
    owners: list[int] = field(default_factory=list)
    tensors: dict[str, np.ndarray] = field(default_factory=dict)
    perm: np.ndarray | None = None  # ours -> Keras feature index after a Flatten of an image
    layer: int = 0  # the Keras layer being converted
    notes: list[str] = field(default_factory=list)

    def add(self, line: str, **tensors) -> None:
        """A spec line for the current Keras layer, with its node's tensors (None: no weights)."""
        j = len(self.lines)
        self.lines.append(line)
        self.owners.append(self.layer)
        for name, value in tensors.items():
            if value is not None:
                self.tensors[f"{j}.{name}"] = np.asarray(value, dtype=np.float32)

    def text(self) -> str:
        return f"input {'x'.join(map(str, self.input))}\n" + "".join(x + "\n" for x in self.lines)

    def compiled(self):
        """The IR of the lines so far; a compile error names the Keras layer of its line."""
        result = compile_source(self.text(), self.model.name)
        errors = [d for d in result.diags.sorted() if d.severity == "error"]
        if errors:
            d = errors[0]
            line = d.span.line - 2  # after the input line
            owner = self.owners[line] if 0 <= line < len(self.owners) else self.layer
            hint = f" ({d.hint})" if d.hint else ""
            raise layer_error(self.model, owner, d.message + hint)
        return result.ir

    def shape(self) -> tuple[int, ...]:
        return self.compiled().output_shape

    def features(self, values):
        """Per-feature values in our order: permuted after a Flatten of an image."""
        if values is None or self.perm is None:
            return values
        return np.asarray(values)[self.perm]

    def axis(self, axis) -> int:
        """A Keras axis of the current tensor (batch axis 0) as ours."""
        rank = len(self.shape()) + 1
        axis = axis[0] if isinstance(axis, list) and len(axis) == 1 else axis
        if not isinstance(axis, int) or not -rank <= axis < rank:
            raise Refused(f"axis {axis} is not one axis of this layer's input")
        axis %= rank
        if rank == 4 and self.layout == "channels_last":
            return {1: 2, 2: 3, 3: 1}.get(axis, 0)
        return axis


def layer_error(model: KerasModel, index: int, why: str):
    """`MODEL: layer 'dense_2' (Dense): WHY`; a `why` starting with `has` follows the class."""
    cfg = model.layers[index]
    name = (cfg.get("config") or {}).get("name", f"#{index}")
    sep = " " if why.startswith("has ") else ": "
    return fail(model.name, f"layer {name!r} ({cfg.get('class_name')}){sep}{why}")


def input_shape(model: KerasModel) -> tuple[int, ...]:
    """The per-example shape Keras was built with, from the InputLayer or the build config."""
    first = model.layers[0] if model.layers else {}
    candidates = [
        (first.get("config") or {}).get("batch_shape"),
        (first.get("config") or {}).get("batch_input_shape"),
        (model.config.get("config") or {}).get("build_input_shape"),
        (model.config.get("build_config") or {}).get("input_shape"),
    ]
    for shape in candidates:
        if (
            isinstance(shape, list)
            and len(shape) > 1
            and all(isinstance(d, int) for d in shape[1:])
        ):
            return tuple(shape[1:])
    raise fail(model.name, "the model has no input shape; give it a keras.Input(shape=...)")


def layout_of(model: KerasModel) -> str:
    formats = {
        (c.get("config") or {}).get("data_format") or "channels_last"
        for c in model.layers
        if c.get("class_name") in IMAGE_LAYERS
    }
    if len(formats) > 1:
        raise fail(model.name, "its image layers mix channels_last and channels_first")
    return formats.pop() if formats else "channels_last"


def convert(model: KerasModel, layer_functions: dict) -> Stack:
    """The model as spec lines and tensors; a Keras layer without an equivalent is an error."""
    shape, layout = input_shape(model), layout_of(model)
    if len(shape) not in (1, 2, 3):
        why = "stackspec takes (features), (T) ids, (T, features) sequences or images"
        raise fail(model.name, f"input shape {shape}: {why}")
    ours = shape if len(shape) < 3 or layout == "channels_first" else (shape[2], *shape[:2])
    stack = Stack(model, tuple(ours), layout)
    variables = iter(model.weights or ())
    for i, cfg in enumerate(model.layers):
        cls = cfg.get("class_name")
        if cls == "InputLayer":
            if i:
                raise layer_error(model, i, "an InputLayer after the first layer")
            continue
        stack.layer = i
        weights = next(variables, ()) if model.weights is not None else None
        function = layer_functions.get(cls)
        if function is None:
            raise layer_error(model, i, "has no stackspec equivalent")
        try:
            function(stack, cfg.get("config") or {}, weights)
        except Refused as e:
            raise layer_error(model, i, str(e)) from None
        except (KeyError, IndexError, TypeError, ValueError) as e:
            raise layer_error(model, i, f"unexpected config or weights ({e!r})") from None
    return stack


# --- padding ----------------------------------------------------------------------------------


def same_padding(stack: Stack, size, stride, what: str) -> int:
    """Keras's `same` as our integer padding: only when it pads equally on both sides of both
    axes (Keras puts an odd pixel at the end, which an integer padding cannot say)."""
    _, h, w = stack.shape()
    pads = set()
    for n, k, s in zip((h, w), size, stride, strict=True):
        total = max((math.ceil(n / s) - 1) * s + k - n, 0)
        if total % 2:
            raise Refused(f"padding='same' pads one side more here; no stackspec {what} does")
        pads.add(total // 2)
    if len(pads) > 1:
        raise Refused(f"padding='same' pads height and width differently here; no {what} does")
    return pads.pop()
