"""Keras steps of `embedding` and `posembed` (layers.py dispatches to them by name).

Keras's Embedding casts float ids to int32 itself and keeps our (vocab, dim) table as it is. It
does not check them: a fraction is truncated and an out-of-range id gives whatever its backend
gives (the data checks refuse both before a model sees them). keras.layers has no learned
position table (keras_hub's PositionEmbedding is another package), and the emitted source is
a small Keras layer that the emitted source defines itself (POSITION_EMBEDDING), as keras_hub's
PositionEmbedding computes it with its sequence length fixed: y = x + table, table (T, F).
"""

from __future__ import annotations

from .steps import Layer


def embedding(node) -> tuple[Layer, ...]:
    p = node.params
    return (Layer("Embedding", (p["vocab"], p["dim"]), {}, ((node.keys()["weight"], None),)),)


def posembed(node) -> tuple[Layer, ...]:
    return (Layer("PositionEmbedding", (), {}, ((node.keys()["weight"], None),), module=""),)


# The source of the classes that `module=""` layers name, printed into the emitted file when used.
# Registered as serializable, so that `model.save()` and `keras.saving.load_model` work on it.
POSITION_EMBEDDING = '''
@keras.saving.register_keras_serializable(package="stackspec")
class PositionEmbedding(keras.layers.Layer):
    """stackspec's posembed: x + a learned (T, F) table (keras.layers has no such layer)."""

    def build(self, input_shape):
        self.table = self.add_weight(
            shape=tuple(input_shape[1:]), initializer="glorot_uniform", name="table"
        )

    def call(self, x):
        return x + self.table
'''
OWN_CLASSES = {"PositionEmbedding": POSITION_EMBEDDING}
