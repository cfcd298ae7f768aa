"""Learned lookups: `embedding` (integer ids -> vectors) and `posembed` (a learned (T, F) table
added to a sequence), LANGUAGE.md §13.

`embedding vocab dim` reads (T) ids, so it is a first layer only (the ids come from the data, as
`normalize`'s statistics do), and it is the one kind whose input is not any float: `ids` says
which values it takes, so the data checks (training/ids.py), the backends and the tests draw or
refuse them. Weight layouts are torch's and Keras's alike: `embedding` (vocab, dim), Keras's
`uniform` start (RandomUniform(-0.05, 0.05)); `posembed` (T, F), keras_hub's PositionEmbedding
start (glorot_uniform with Keras's fans of a 2-D kernel: fan-in T, fan-out F).
"""

from __future__ import annotations

from ..diagnostics import example_shape
from .args import Arg
from .kinds import LayerKind, Shape, ShapeError, Weight


def _embedding_shape(p: dict, shape: Shape) -> Shape:
    if len(shape) != 1:
        raise ShapeError(
            f"embedding expects (T) integer ids, got shape {example_shape(shape)}",
            "declare the ids as a 1-D input such as `input 20` (20 ids per example)",
        )
    return (shape[0], p["dim"])


def _posembed_shape(p: dict, shape: Shape) -> Shape:
    if len(shape) != 2:
        raise ShapeError(
            f"posembed expects a (T,F) sequence input, got shape {example_shape(shape)}",
            "put it after a layer that gives (T,F), such as `embedding VOCAB DIM`",
        )
    return shape


EMBEDDING_LAYERS = {
    k.name: k
    for k in (
        LayerKind(
            "embedding",
            (
                Arg("vocab", "int", positional=True, size=True),
                Arg("dim", "int", positional=True, size=True),
            ),
            "a learned vector per integer id, (T) ids in [0, vocab) -> (T,dim); first layer only",
            _embedding_shape,
            lambda p, s: {"weight": Weight((p["vocab"], p["dim"]), "uniform")},
            examples=(
                ("embedding 7 3", (5,)),
                ("embedding 4 2", (3,)),
                ("embedding 7 3", (5, 2), "E301"),
                ("embedding 7", (5,), "E206"),
                ("embedding 0 3", (5,), "E304"),
            ),
            ids=lambda p: p["vocab"],
        ),
        LayerKind(
            "posembed",
            (),
            "a learned (T,F) table added to the sequence: positional embedding",
            _posembed_shape,
            lambda p, s: {"weight": Weight(s, "glorot_uniform", s[0], s[1])},
            examples=(
                ("posembed", (4, 3)),
                ("posembed", (6,), "E301"),
                ("posembed 2", (4, 3), "E209"),
            ),
        ),
    )
}
