"""Standalone Keras source (`stackspec compile SPEC --emit keras`): layers.py's steps, printed
as a functional keras.Model, one statement a step (`x = keras.layers.Dense(...)(x)`), and
`load(path)` that puts a stackspec weight file into it.

Functional rather than keras.Sequential, for every spec alike: a residual needs it (`skip = x`,
the body, `x = keras.layers.Add()([skip, x])`), and so do the exact paddings of pooling layers
(a keras.ops.pad with -inf before max pooling; the mean over real pixels for average pooling).
Statements stay flat at any residual depth: a body is not indented and not a nested expression.

The source imports numpy, safetensors and keras (any Keras 3 backend that runs channels_first
convolutions: torch or jax; TensorFlow only on a GPU), never stackspec. A kind that keras.layers
lacks (posembed) is a small Keras layer class defined in the source itself, only where used.
"""

from __future__ import annotations

import math

from ...diagnostics import UserError
from ..source import comment, describe, header, join_lines
from .layers import Join, Layer, Op, RealMean, Residual, Tensor, Unsupported, keras_layers, layers
from .lookups import OWN_CLASSES

WIDTH = 96  # 100 columns, less build()'s indent


def _value(v) -> str:
    if isinstance(v, Tensor):
        return f"w[{v.key!r}]"
    if isinstance(v, Layer):  # a wrapped layer (Bidirectional's), named by its wrapper
        return f"{v.module}{v.cls}({', '.join(_arguments(v.args, v.kwargs))})"
    if isinstance(v, float) and math.isinf(v):
        return "-np.inf" if v < 0 else "np.inf"
    return repr(v)


def _arguments(args: tuple, kwargs: dict) -> list[str]:
    return [_value(a) for a in args] + [f"{k}={_value(v)}" for k, v in kwargs.items()]


def _layer(prefix: str, layer: Layer, suffix: str) -> list[str]:
    """`{prefix}keras.layers.Cls(args){suffix}`, one argument a line if it would pass 100
    columns."""
    args = _arguments(layer.args, {**layer.kwargs, "name": layer.name})
    line = f"{prefix}{layer.module}{layer.cls}({', '.join(args)}){suffix}"
    if len(line) <= WIDTH:
        return [line]
    return [f"{prefix}{layer.module}{layer.cls}(", *(f"    {a}," for a in args), f"){suffix}"]


def _statements(steps, lines: list[str]) -> None:
    """The statements of `steps` on `x`, each node's under its comment."""
    node = None
    for step in steps:
        if step.node is not node:
            node = step.node
            lines.append(comment(describe(node)))
        if isinstance(step, Layer):
            lines += _layer("x = ", step, f"({step.call})")
        elif isinstance(step, Op):
            args = ", ".join(["x", *_arguments(step.args, step.kwargs)])
            lines.append(f"x = keras.ops.{step.fn}({args})")
        elif isinstance(step, RealMean):
            lines += _layer("pad = ", step.pad, "")
            lines += _layer("pool = ", step.pool, "")
            lines.append("x = pool(pad(x)) / pool(pad(keras.ops.ones_like(x)))")
        elif isinstance(step, Join):
            _join(step, node, lines)
            node = None
        else:
            assert isinstance(step, Residual), step
            skip = "skip_" + node.id.replace(".", "_")
            lines.append(f"{skip} = x")
            _statements(step.body, lines)
            lines.append(comment(f"{node.id}: x + the residual's body"))
            lines += _layer("x = ", step.add, f"([{skip}, x])")
            node = None


def _join(step: Join, node, lines: list[str]) -> None:
    """Every branch from the same `inputs_ID`, its output kept as `branch_ID_I`, then merged."""
    ident = node.id.replace(".", "_")
    start, outs = f"inputs_{ident}", []
    lines.append(f"{start} = x")
    for i, branch in enumerate(step.branches):
        lines.append(comment(f"{node.id}.{i}: branch {i + 1}"))
        lines.append(f"x = {start}")
        _statements(branch, lines)
        outs.append(f"branch_{ident}_{i}")
        lines.append(f"{outs[-1]} = x")
    lines.append(comment(f"{node.id}: {node.op} of the branches"))
    lines += _layer("x = ", step.merge, f"([{', '.join(outs)}])")


def _steps(spec) -> tuple:
    try:
        return layers(spec.ir.nodes)
    except Unsupported as e:
        # The first node that fails alone; a residual or join fails only through what it holds.
        node = next(n for n in spec.ir.walk() if not n.children() and _fails(n))
        raise UserError(f"--emit keras: layer {describe(node)}: {e}") from None


def _fails(node) -> bool:
    try:
        layers((node,))
    except Unsupported:
        return True
    return False


def keras_source(spec) -> str:
    steps = _steps(spec)
    lines: list[str] = []
    _statements(steps, lines)
    body = join_lines(" " * 4 + line for line in lines)
    weights = join_lines(
        f"    {k.name!r}: [\n" + join_lines(f"        {t!r}," for t in k.weights) + "\n    ],"
        for k in keras_layers(steps)
        if k.weights
    )
    own = sorted({k.cls for k in keras_layers(steps) if not k.module})
    classes = "".join("\n" + OWN_CLASSES[cls] for cls in own)
    imports = "import keras\nimport numpy as np\nfrom safetensors.numpy import load_file"
    command = "stackspec compile --emit keras"
    return f'''{header(spec, "keras", imports, command)}
{classes}
# Keras layer -> the weight-file tensors of its variables, in order, each with the axes that turn
# stackspec's layout into Keras's (dense kernel (F, units), conv2d kernel (kh, kw, C, filters)).
KERAS_WEIGHTS = {{
{weights}
}}


def keras_value(w, key, axes, gates=None, combine=None):
    """A Keras variable from weight-file tensors: `key`, or with `combine` ("sum" or "stack")
    several keys; each one's gate blocks (axis 0) first reordered to `gates` (torch's recurrent
    gates in Keras's order), then transposed by `axes`."""
    keys = (key,) if combine is None else key
    values = [w[k] for k in keys]
    if gates is not None:
        values = [np.concatenate([np.split(v, len(gates))[g] for g in gates]) for v in values]
    if combine is not None:
        values = [sum(values) if combine == "sum" else np.stack(values)]
    return values[0] if axes is None else np.transpose(values[0], axes)


def build(w):
    """The model as a functional keras.Model holding the weights `w` (weight-file key -> array,
    in stackspec's layouts). Images are channels-first (N, C, H, W), as stackspec takes them."""
    inputs = keras.Input(shape=INPUT_SHAPE)
    x = inputs
{body}
    model = keras.Model(inputs, x)
    for name, tensors in KERAS_WEIGHTS.items():
        layer = model.get_layer(name)
        values = [keras_value(w, *tensor) for tensor in tensors]
        # Reshaped to each variable's shape: Keras keeps an image's PReLU slopes as (C, 1, 1).
        layer.set_weights([np.reshape(v, var.shape) for v, var in zip(values, layer.weights)])
    return model


def load(path):
    """A keras.Model holding the weights of the safetensors file at `path`;
    `model.predict(x)` (or `model(x)`) gives stackspec's predictions."""
    return build(read_weights(path))
'''
