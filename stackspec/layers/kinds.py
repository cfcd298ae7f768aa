"""The registry's vocabulary: what one layer kind declares."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .args import Arg

Shape = tuple[int, ...]


class ShapeError(Exception):
    """Raised by a shape rule; shapes.py reports it at the argument named `arg` if the call
    wrote it, else at the layer's name."""

    def __init__(self, message: str, hint: str = "", code: str = "E301", arg: str = ""):
        super().__init__(message)
        self.message, self.hint, self.code, self.arg = message, hint, code, arg


@dataclass(frozen=True)
class Weight:
    """One tensor of a layer: its shape, how it starts, and Keras's fan-in/fan-out for init."""

    shape: Shape
    init: str  # an initializer name (init.py), "zeros" or "ones"
    fan_in: int = 0
    fan_out: int = 0


def no_weights(params: dict, shape: Shape) -> dict[str, Weight]:
    return {}


def same_shape(params: dict, shape: Shape) -> Shape:
    return shape


@dataclass(frozen=True)
class LayerKind:
    """A layer kind: arguments, shape rule, trainable weights and non-trainable state.

    `weights` and `state` return name -> Weight in key order; the keys are the suffixes of the
    safetensors names (`{node_id}.{name}`). Parameter counts follow from their shapes.
    """

    name: str
    args: tuple[Arg, ...]
    doc: str
    shape: Callable[[dict, Shape], Shape] = same_shape
    weights: Callable[[dict, Shape], dict[str, Weight]] = no_weights
    state: Callable[[dict, Shape], dict[str, Weight]] = no_weights
    # Fills defaults that depend on other arguments (pooling's stride defaults to its size).
    complete: Callable[[dict], dict] | None = None
    # Normalizes with the statistics of the batch while training, so a batch of one example
    # cannot train it (fit.py drops or refuses such a batch).
    batch_statistics: bool = False
