"""Activation layers; their names are also the values of dense/conv2d `activation`."""

from __future__ import annotations

from .args import Arg
from .kinds import LayerKind

ALIASES = {"swish": "silu"}

_FLOAT = dict(type="float")

ACTIVATION_LAYERS = {
    k.name: k
    for k in (
        LayerKind("linear", (), "identity"),
        LayerKind("relu", (), "max(x, 0)"),
        LayerKind("sigmoid", (), "1 / (1 + exp(-x))"),
        LayerKind("tanh", (), "hyperbolic tangent"),
        LayerKind("softmax", (), "exp(x) / sum(exp(x)) over the last axis"),
        LayerKind("gelu", (), "x * Phi(x), exact (erf)"),
        LayerKind("silu", (), "x * sigmoid(x); alias swish"),
        LayerKind("elu", (Arg("alpha", "float", 1.0, low=0),), "x if x > 0 else alpha*(exp(x)-1)"),
        LayerKind("selu", (), "scaled elu with the self-normalizing constants"),
        LayerKind("leaky_relu", (Arg("slope", "float", 0.01, low=0),), "x if x > 0 else slope*x"),
        LayerKind("softplus", (), "log(1 + exp(x))"),
    )
}

ACTIVATIONS = tuple(ACTIVATION_LAYERS)


def activation_params(name: str) -> dict:
    """The params of an activation named as dense/conv2d's `activation` (`dense 64 elu`): its
    defaults, so every backend and emitter reads `alpha=1.0` from the entry above."""
    return {a.name: a.default for a in ACTIVATION_LAYERS[name].args}
