"""The torch modules of `embedding` and `posembed` (layers.LOCAL): nn.Embedding behind a check
of the float ids, and a learned (T, F) table added to the input. `compile --emit python` copies
these classes, as modules.py's, so each is self-contained."""

from __future__ import annotations

import torch
from torch import nn


class Embedding(nn.Module):
    """nn.Embedding on float32 ids (every input is float32): each must be a whole number in
    [0, vocab), else a ValueError naming the first bad one by example and position (from 0), the
    NumPy backend's message; torch's own IndexError would name neither."""

    def __init__(self, num_embeddings: int, embedding_dim: int):
        super().__init__()
        self.embed = nn.Embedding(num_embeddings, embedding_dim)

    def forward(self, x):
        vocab = self.embed.num_embeddings
        bad = (x != torch.round(x)) | (x < 0) | (x >= vocab) | ~torch.isfinite(x)
        if bool(bad.any()):
            where = torch.nonzero(bad)[0]
            row, col = int(where[0]), int(where[1])
            value = float(x[row, col])
            raise ValueError(
                "embedding: id "
                + str(value)
                + " of example "
                + str(row)
                + ", position "
                + str(col)
                + " is not a whole number in [0, "
                + str(vocab)
                + ")"
            )
        return self.embed(x.long())


class PositionEmbedding(nn.Module):
    """y = x + weight, a learned (T, F) table: keras_hub's PositionEmbedding, added."""

    def __init__(self, steps: int, features: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(steps, features))

    def forward(self, x):
        return x + self.weight


LOOKUPS = {"Embedding": Embedding, "PositionEmbedding": PositionEmbedding}
