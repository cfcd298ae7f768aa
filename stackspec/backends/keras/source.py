"""Standalone Keras source (`stackspec compile SPEC --emit keras`): layers.py's descriptions,
printed as a keras.Sequential, and `load(path)` that puts a stackspec weight file into it.

The source imports numpy, safetensors and keras (any Keras 3 backend that runs channels_first
convolutions: torch or jax; TensorFlow only on a GPU), never stackspec.
"""

from __future__ import annotations

import re

from ...diagnostics import UserError
from ..source import comment, describe, header, join_lines
from .layers import Layer, Tensor, Unsupported, layers


def _value(v) -> str:
    return f"w[{v.key!r}]" if isinstance(v, Tensor) else repr(v)


def _names(sequence: tuple[Layer, ...]) -> list[str]:
    """A unique name per layer: its node's id and its class, `n3_zero_padding2d`, `n3_conv2d`."""
    names = []
    for layer in sequence:
        snake = re.sub(
            r"([a-z])([A-Z])", r"\1_\2", re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", layer.cls)
        )
        base = name = f"n{layer.node.id.replace('.', '_')}_{snake.lower()}"
        n = 0
        while name in names:
            n += 1
            name = f"{base}_{n}"
        names.append(name)
    return names


def _constructor(layer: Layer, name: str) -> list[str]:
    """`keras.layers.Cls(args),`, one argument a line if it would pass 100 columns."""
    args = [_value(a) for a in layer.args]
    args += [f"{k}={_value(v)}" for k, v in {**layer.kwargs, "name": name}.items()]
    line = f"keras.layers.{layer.cls}({', '.join(args)}),"
    if len(line) <= 88:  # indented by 12 in build()
        return [line]
    return [f"keras.layers.{layer.cls}(", *(f"    {a}," for a in args), "),"]


def _sequence(spec) -> tuple[Layer, ...]:
    try:
        return layers(spec.ir.nodes)
    except Unsupported as e:
        node = next(n for n in spec.ir.walk() if _fails(n))
        raise UserError(f"--emit keras: layer {describe(node)}: {e}") from None


def _fails(node) -> bool:
    try:
        layers((node,))
    except Unsupported:
        return True
    return False


def keras_source(spec) -> str:
    sequence = _sequence(spec)
    names = _names(sequence)
    lines: list[str] = []
    node = None
    for layer, name in zip(sequence, names, strict=True):
        if layer.node is not node:
            node = layer.node
            lines.append(comment(describe(node)))
        lines += _constructor(layer, name)
    body = join_lines(" " * 12 + line for line in lines)
    weights = join_lines(
        f"    {name!r}: [\n" + join_lines(f"        {t!r}," for t in layer.weights) + "\n    ],"
        for layer, name in zip(sequence, names, strict=True)
        if layer.weights
    )
    imports = "import keras\nimport numpy as np\nfrom safetensors.numpy import load_file"
    command = "stackspec compile --emit keras"
    return f'''{header(spec, "keras", imports, command)}

# Keras layer -> the weight-file tensors of its variables, in order, each with the axes that turn
# stackspec's layout into Keras's (dense kernel (F, units), conv2d kernel (kh, kw, C, filters)).
KERAS_WEIGHTS = {{
{weights}
}}


def build(w):
    """The model as a keras.Sequential holding the weights `w` (weight-file key -> array, in
    stackspec's layouts). Images are channels-first (N, C, H, W), as stackspec takes them."""
    model = keras.Sequential(
        [
            keras.Input(shape=INPUT_SHAPE),
{body}
        ]
    )
    for name, tensors in KERAS_WEIGHTS.items():
        values = [w[key] if axes is None else np.transpose(w[key], axes) for key, axes in tensors]
        model.get_layer(name).set_weights(values)
    return model


def load(path):
    """A keras.Sequential holding the weights of the safetensors file at `path`;
    `model.predict(x)` (or `model(x)`) gives stackspec's predictions."""
    return build(read_weights(path))
'''
