"""Activation layers; their names are also the values of dense/conv2d `activation`."""

from __future__ import annotations

from dataclasses import replace

from .args import Arg
from .kinds import Example, LayerKind

ALIASES = {"swish": "silu"}

_FLOAT = dict(type="float")


def _shared_examples(name: str) -> tuple[Example, ...]:
    """Every activation is tried on a flat and an image input and refuses a positional value;
    one with an argument adds examples of it in its entry."""
    return ((name, (7,)), (name, (2, 3, 4)), (f"{name} 1", (4,), "E209"))


ACTIVATION_LAYERS = {
    k.name: replace(k, examples=_shared_examples(k.name) + k.examples)
    for k in (
        LayerKind("linear", (), "identity"),
        LayerKind("relu", (), "max(x, 0)"),
        LayerKind("sigmoid", (), "1 / (1 + exp(-x))"),
        LayerKind("tanh", (), "hyperbolic tangent"),
        LayerKind(
            "softmax",
            (),
            "exp(x) / sum(exp(x)) over the last axis",
            examples=(("softmax", (3, 4)),),
        ),
        LayerKind("gelu", (), "x * Phi(x), exact (erf)"),
        LayerKind("silu", (), "x * sigmoid(x); alias swish"),
        LayerKind(
            "elu",
            (Arg("alpha", "float", 1.0, low=0),),
            "x if x > 0 else alpha*(exp(x)-1)",
            examples=(("elu alpha=0.5", (6,)), ("elu alpha=-1", (4,), "E205")),
        ),
        LayerKind("selu", (), "scaled elu with the self-normalizing constants"),
        LayerKind(
            "leaky_relu",
            (Arg("slope", "float", 0.01, low=0),),
            "x if x > 0 else slope*x",
            examples=(("leaky_relu slope=0.2", (2, 3, 3)), ("leaky_relu slope=-0.1", (4,), "E205")),
        ),
        LayerKind("softplus", (), "log(1 + exp(x))"),
        LayerKind("gelu_tanh", (), "x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))) / 2"),
        LayerKind("mish", (), "x * tanh(softplus(x))"),
        LayerKind("relu6", (), "min(max(x, 0), 6)"),
        LayerKind("hard_sigmoid", (), "relu6(x + 3) / 6, as Keras 3 and torch"),
        LayerKind("hard_swish", (), "x * hard_sigmoid(x)"),
        LayerKind(
            "log_softmax",
            (),
            "x - log(sum(exp(x))) over the last axis",
            examples=(("log_softmax", (3, 4)),),
        ),
    )
}

ACTIVATIONS = tuple(ACTIVATION_LAYERS)


def activation_params(name: str) -> dict:
    """The params of an activation named as dense/conv2d's `activation` (`dense 64 elu`): its
    defaults, so every backend and emitter reads `alpha=1.0` from the entry above."""
    return {a.name: a.default for a in ACTIVATION_LAYERS[name].args}
