"""Multi-head self-attention on (T, F) sequences (LANGUAGE.md §13).

`attention heads key_dim` is Keras's MultiHeadAttention(num_heads=heads, key_dim=key_dim) called
on (x, x): value_dim = key_dim and the output projection back to F, so (T, F) -> (T, F). As in
Keras, heads*key_dim need not equal F (torch's nn.MultiheadAttention would require it; the torch
backend uses nn.Linear projections and scaled_dot_product_attention instead).

Weights, in nn.Linear's layout (out, in): `q_weight`, `k_weight`, `v_weight` (heads*key_dim, F),
`o_weight` (F, heads*key_dim), and with bias=true `q_bias`, `k_bias`, `v_bias` (heads*key_dim),
`o_bias` (F). Head j is rows j*key_dim .. (j+1)*key_dim - 1 of a projection (Keras's query
kernel (F, heads, key_dim) is q_weight.T reshaped; its output kernel (heads, key_dim, F) is
o_weight.T reshaped). Count: 3(F*h*k + h*k) + (h*k*F + F), Keras's. Initial values are
Keras's: glorot_uniform with the fans Keras computes for its 3-D kernels (fan-in F*heads and
fan-out F*key_dim for q/k/v, fan-in heads*key_dim and fan-out heads*F for the output), zero
biases.
"""

from __future__ import annotations

from .args import Arg
from .kinds import LayerKind, Shape, Weight
from .sequence import sequence_only

PROJECTIONS = ("q", "k", "v")


def _shape(p: dict, shape: Shape) -> Shape:
    return sequence_only("attention", shape)


def _weights(p: dict, shape: Shape) -> dict[str, Weight]:
    f, h, k = shape[-1], p["heads"], p["key_dim"]
    out: dict[str, Weight] = {}
    for name in PROJECTIONS:
        out[f"{name}_weight"] = Weight((h * k, f), "glorot_uniform", f * h, f * k)
        if p["bias"]:
            out[f"{name}_bias"] = Weight((h * k,), "zeros")
    out["o_weight"] = Weight((f, h * k), "glorot_uniform", h * k, h * f)
    if p["bias"]:
        out["o_bias"] = Weight((f,), "zeros")
    return out


ATTENTION_LAYERS = {
    "attention": LayerKind(
        "attention",
        (
            Arg("heads", "int", positional=True, size=True),
            Arg("key_dim", "int", positional=True, size=True),
            Arg("causal", "bool", False),
            Arg("bias", "bool", True),
        ),
        "multi-head self-attention over (T,F) with an output projection back to F, as Keras's "
        "MultiHeadAttention(heads, key_dim) on (x, x); causal=true lets step t see steps <= t",
        _shape,
        _weights,
        examples=(
            ("attention 2 3", (4, 6)),
            ("attention 2 3 causal=true", (4, 6)),
            ("attention 1 2 causal=true bias=false", (3, 5)),
            ("attention 2 3", (6,), "E301"),
            ("attention 0 3", (4, 6), "E304"),
            ("attention 2 0", (4, 6), "E304"),
            ("attention 2 3 causal=1", (4, 6), "E204"),
        ),
    ),
}
