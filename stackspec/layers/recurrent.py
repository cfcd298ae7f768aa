"""Recurrent layers on (T, F) sequences: lstm and gru (LANGUAGE.md §13).

Weights are torch's (nn.LSTM, nn.GRU): `weight_ih` (gates*units, F), `weight_hh` (gates*units,
units) and two biases, gate order i, f, g, o (LSTM) and r, z, n (GRU, reset-after: torch's
n = tanh(W_in x + b_in + r * (W_hn h + b_hn)), Keras's GRU with reset_after=True). Initial
values are Keras's: glorot_uniform input kernels (fan-in F, fan-out gates*units, as Keras's
(F, gates*units) kernel), orthogonal recurrent kernels, zero biases, and the LSTM's forget
gate bias 1 (Keras's unit_forget_bias), in `bias_ih` only so that the sum is 1.

Counts: GRU equals Keras's (reset_after=True also keeps two bias vectors, (2, 3*units)): 3u(F+u)
+ 6u. LSTM is torch's 4u(F+u) + 8u, 4u more than Keras's 4u(F+u) + 4u: Keras has one bias,
torch adds b_ih + b_hh, which only their sum reaches; we keep torch's two so that the weights
load into nn.LSTM as they are (the Keras emitter passes their sum). A bidirectional layer has
the same tensors again with the suffix `_reverse`, and twice the count.
"""

from __future__ import annotations

from .args import Arg
from .kinds import LayerKind, Shape, Weight
from .sequence import sequence_only

GATES = {"lstm": 4, "gru": 3}


def _shape(layer: str):
    def rule(p: dict, shape: Shape) -> Shape:
        steps, _ = sequence_only(layer, shape)
        units = p["units"] * (2 if p["bidirectional"] else 1)
        return (steps, units) if p["return_sequences"] else (units,)

    return rule


def _weights(layer: str):
    gates = GATES[layer]

    def rule(p: dict, shape: Shape) -> dict[str, Weight]:
        features, u = shape[-1], p["units"]
        bias_ih = "unit_forget" if layer == "lstm" else "zeros"
        one = {
            "weight_ih": Weight((gates * u, features), "glorot_uniform", features, gates * u),
            "weight_hh": Weight((gates * u, u), "orthogonal", u, gates * u),
            "bias_ih": Weight((gates * u,), bias_ih),
            "bias_hh": Weight((gates * u,), "zeros"),
        }
        if not p["bidirectional"]:
            return one
        return {**one, **{f"{k}_reverse": w for k, w in one.items()}}

    return rule


def _recurrent(layer: str, doc: str) -> LayerKind:
    return LayerKind(
        layer,
        (
            Arg("units", "int", positional=True, size=True),
            Arg("return_sequences", "bool", False),
            Arg("bidirectional", "bool", False),
        ),
        doc,
        _shape(layer),
        _weights(layer),
        examples=(
            (f"{layer} 4", (5, 3)),
            (f"{layer} 4 return_sequences=true", (5, 3)),
            (f"{layer} 3 bidirectional=true", (5, 3)),
            (f"{layer} 2 return_sequences=true bidirectional=true", (4, 3)),
            (f"{layer} 4", (3,), "E301"),
            (f"{layer} 0", (5, 3), "E304"),
            (f"{layer} 4 bidirectional=1", (5, 3), "E204"),
        ),
    )


RECURRENT_LAYERS = {
    "lstm": _recurrent(
        "lstm",
        "long short-term memory over (T,F): the last hidden state (units), or every one "
        "(T,units) with return_sequences; gates i, f, g, o as torch's nn.LSTM",
    ),
    "gru": _recurrent(
        "gru",
        "gated recurrent unit over (T,F), reset gate after the matrix product (torch's nn.GRU, "
        "Keras's reset_after=True); gates r, z, n",
    ),
}
