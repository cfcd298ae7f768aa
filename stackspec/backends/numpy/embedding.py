"""embedding and posembed on (N, T) ids and (N, T, F) batches.

Ids arrive as floats (every input is float32): `ids_values` turns them into int64 row numbers
or raises a ValueError naming the first bad one by example (row of the batch, from 0) and
position (from 0). The data checks (training/ids.py) refuse such values earlier, by the data
file's row and column; this check is for arrays that reach a model or the emitted source
directly. The embedding's input has no gradient (its backprop returns zeros): ids are discrete.
"""

from __future__ import annotations

import numpy as np

# --- evaluation -------------------------------------------------------------------------------


def ids_values(x, vocab):
    """x (N, T) as int64 ids in [0, vocab), or a ValueError naming the first bad value."""
    bad = (x != np.round(x)) | (x < 0) | (x >= vocab) | ~np.isfinite(x)
    if bad.any():
        row, col = (int(i[0]) for i in np.nonzero(bad))
        raise ValueError(
            f"embedding: id {x[row, col]!r} of example {row}, position {col} is not a whole "
            f"number in [0, {vocab})"
        )
    return x.astype(np.int64)


def embedding_values(x, weight):
    return weight[ids_values(x, len(weight))].astype(x.dtype, copy=False)


def posembed_values(x, weight):
    return x + weight


# --- training ---------------------------------------------------------------------------------


def embedding(node, ctx):
    t = ctx.tensors(node)
    weight, gweight = t.get("weight"), t.grad("weight")

    def forward(x):
        ids = ids_values(x, len(weight))
        y = weight[ids].astype(x.dtype, copy=False)

        def backprop(dy):
            # Each id's row gathers the gradients of every place it was read: a scatter-add.
            gweight.fill(0)
            np.add.at(gweight, ids.reshape(-1), dy.reshape(-1, dy.shape[-1]))
            return np.zeros_like(x)

        return y, backprop

    return forward


def posembed(node, ctx):
    t = ctx.tensors(node)
    weight, gweight = t.get("weight"), t.grad("weight")

    def forward(x):
        def backprop(dy):
            np.sum(dy, axis=0, out=gweight)
            return dy

        return x + weight, backprop

    return forward
