"""The registry's vocabulary: what one layer kind declares."""

from __future__ import annotations

from collections.abc import Callable

from ..records import record
from .args import Arg

Shape = tuple[int, ...]
# (call, input shape) compiles; (call, input shape, code) fails with exactly that error code.
Example = tuple[str, Shape] | tuple[str, Shape, str]


class ShapeError(Exception):
    """Raised by a shape rule; shapes.py reports it at the argument named `arg` if the call
    wrote it, else at the layer's name."""

    def __init__(self, message: str, hint: str = "", code: str = "E301", arg: str = ""):
        super().__init__(message)
        self.message, self.hint, self.code, self.arg = message, hint, code, arg


@record
class Weight:
    """One tensor of a layer: its shape, how it starts, and Keras's fan-in/fan-out for init."""

    shape: Shape
    init: str  # an initializer name (init.py), "zeros", "ones" or "quarter" (0.25)
    fan_in: int = 0
    fan_out: int = 0


def no_weights(params: dict, shape: Shape) -> dict[str, Weight]:
    return {}


def same_shape(params: dict, shape: Shape) -> Shape:
    return shape


@record
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
    # The tests' whole knowledge of this layer, as Keras's run_layer_test takes it: every valid
    # example is compiled, run in both backends, gradient-checked, compared between backends,
    # emitted and round-tripped; every invalid one must fail with its code. Together the valid
    # ones give each argument a non-default value; the first one's input shape also suits the
    # call with only the required arguments (tests build calls from it). Keep inputs small: the
    # gradient check differentiates every input and weight value.
    examples: tuple[Example, ...] = ()
    # Normalizes with the statistics of the batch while training, so a batch of one example
    # cannot train it (fit.py drops or refuses such a batch).
    batch_statistics: bool = False
    # Keeps a second tensor the size of its output for the backward pass (a normalized copy, a
    # dropout mask): the activation-memory estimate (compiler's memory.py) counts it.
    keeps_output_copy: bool = False
    # Its state is adapted from the training data before the first step (fit.py's adapt step)
    # and never trained; it is allowed only as the model's first layer (E214 elsewhere), where
    # the data it sees is the raw input.
    adapted: bool = False
    # Reads whole-number ids in [0, ids(params)) rather than any float (embedding): the data
    # checks refuse other values by row and column, the tests draw such ids, and, as an adapted
    # layer, it is allowed only as the model's first layer (E214), where the data is its input.
    ids: Callable[[dict], int] | None = None
