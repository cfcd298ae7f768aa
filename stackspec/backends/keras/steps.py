"""The steps that layers.py describes a Keras model with (a layer, a keras.ops call, a padded
mean, a residual) and Unsupported, for a kind Keras cannot compute exactly; source.py prints
them. Plain data: nothing here imports keras.
"""

from __future__ import annotations

from dataclasses import dataclass, field


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
    name: str = ""  # `n3_conv2d`: set by `layers`, the key of KERAS_WEIGHTS in the source
    call: str = "x"  # the layer's call arguments (MultiHeadAttention's are `x, x, ...`)
    module: str = "keras.layers."  # "" for a class the emitted source defines (OWN_CLASSES)


@dataclass(frozen=True)
class Op:
    """`x = keras.ops.<fn>(x, *args, **kwargs)`: a step that no Keras layer takes."""

    fn: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    node: object = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class RealMean:
    """`pool(pad(x)) / pool(pad(ones))`: average pooling of a zero-padded batch divided by the
    same pooling of ones, the mean over each window's real pixels as stackspec's (a `valid`
    pooling of a padded batch counts the padding; Keras pads only as `same`)."""

    pad: Layer
    pool: Layer
    node: object = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Residual:
    """`skip = x`, the body's steps, then `x = add([skip, x])`: y = x + body(x)."""

    body: tuple
    add: Layer
    node: object = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Join:
    """`inputs = x`, each branch's steps from `x = inputs`, then `x = merge([b0, b1, ...])`:
    concat's Concatenate or add's Add over the branches' outputs."""

    branches: tuple[tuple, ...]
    merge: Layer
    node: object = field(default=None, compare=False, repr=False)
