"""Keras steps of `embedding` and `posembed` (layers.py dispatches to them by name).

Keras's Embedding casts float ids to int32 itself and keeps our (vocab, dim) table as it is. It
does not check them: a fraction is truncated and an out-of-range id gives whatever its backend
gives (the data checks refuse both before a model sees them). keras.layers has no learned
position table (keras_hub's PositionEmbedding is another package), and the emitted source is
plain keras.layers, so `posembed` is refused by name rather than approximated.
"""

from __future__ import annotations

from .steps import Layer, Unsupported


def embedding(node) -> tuple[Layer, ...]:
    p = node.params
    return (Layer("Embedding", (p["vocab"], p["dim"]), {}, ((node.keys()["weight"], None),)),)


def posembed(node) -> tuple[Layer, ...]:
    raise Unsupported(
        "posembed has no Keras layer: keras.layers has no learned position table "
        "(keras_hub's PositionEmbedding is a separate package)"
    )
