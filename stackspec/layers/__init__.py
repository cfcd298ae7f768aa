"""The layer registry: every layer kind, declared once.

The validator, `summary`, the IR, `fmt` and every backend read `LAYERS`. Adding a layer kind is
one entry here plus one function per backend, named as the key; tests walk this table and fail
if a backend lacks the function, if its gradient check fails or if the backends disagree.
"""

from __future__ import annotations

from .activations import ACTIVATION_LAYERS, ACTIVATIONS, ALIASES, activation_params
from .args import REQUIRED, Arg, bind
from .attention import ATTENTION_LAYERS
from .conv import CONV_LAYERS, conv_padding
from .core import INITIALIZERS
from .core import LAYERS as _CORE
from .embedding import EMBEDDING_LAYERS
from .kinds import LayerKind, Shape, ShapeError, Weight
from .recurrent import RECURRENT_LAYERS
from .sequence import SEQUENCE_LAYERS, conv1d_padding

LAYERS: dict[str, LayerKind] = {
    **_CORE,
    **CONV_LAYERS,
    **SEQUENCE_LAYERS,
    **RECURRENT_LAYERS,
    **ATTENTION_LAYERS,
    **EMBEDDING_LAYERS,
    **ACTIVATION_LAYERS,
}

# Structural kinds have a body instead of arguments; backends implement them too.
STRUCTURAL = ("residual", "concat", "add")

__all__ = [
    "ACTIVATIONS",
    "ALIASES",
    "Arg",
    "INITIALIZERS",
    "LAYERS",
    "LayerKind",
    "REQUIRED",
    "STRUCTURAL",
    "Shape",
    "ShapeError",
    "Weight",
    "activation_params",
    "bind",
    "conv1d_padding",
    "conv_padding",
]
