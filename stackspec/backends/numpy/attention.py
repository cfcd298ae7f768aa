"""Multi-head self-attention on (N, T, F) batches, Keras's MultiHeadAttention on (x, x).

Each projection is one GEMM over all N*T rows; the heads are then an axis, (N, h, T, k), and
the scores and the weighted sum are batched matmuls over (N, h). The softmax subtracts each
row's maximum; with causal=true the future steps are -inf before it, and every row keeps at
least its own step, so the maximum is finite and no row is all -inf (no NaN). The backward pass
is the softmax's per row, ds = a * (da - sum(da * a)), which is 0 where a is (masked steps).
"""

from __future__ import annotations

import numpy as np


def attention_heads(z, heads):
    """(N, T, h*k) -> (N, h, T, k): head j is columns j*k .. (j+1)*k - 1."""
    n, steps, width = z.shape
    return z.reshape(n, steps, heads, width // heads).transpose(0, 2, 1, 3)


def attention_merge(z):
    """(N, h, T, k) -> (N, T, h*k), the heads concatenated in order."""
    n, heads, steps, k = z.shape
    return z.transpose(0, 2, 1, 3).reshape(n, steps, heads * k)


def attention_weights(q, k, causal):
    """softmax(q k^T / sqrt(key_dim)) over the keys, (N, h, T, T); causal: step t sees <= t."""
    scores = q @ k.transpose(0, 1, 3, 2)
    scores *= q.shape[-1] ** -0.5  # a Python float: keeps float32
    if causal:
        steps = scores.shape[-1]
        scores[..., np.triu(np.ones((steps, steps), dtype=bool), 1)] = -np.inf
    # In place on the one (N, h, T, T) buffer: the largest array of the layer.
    scores -= scores.max(axis=-1, keepdims=True)
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=-1, keepdims=True)
    return scores


def attention_project(x, weight, bias):
    y = x @ weight.T
    return y if bias is None else y + bias


def attention_values(
    x,
    q_weight,
    k_weight,
    v_weight,
    o_weight,
    heads,
    causal,
    q_bias=None,
    k_bias=None,
    v_bias=None,
    o_bias=None,
):
    q = attention_heads(attention_project(x, q_weight, q_bias), heads)
    k = attention_heads(attention_project(x, k_weight, k_bias), heads)
    v = attention_heads(attention_project(x, v_weight, v_bias), heads)
    context = attention_merge(attention_weights(q, k, causal) @ v)
    return attention_project(context, o_weight, o_bias)


def _project_grads(dz, rows, gweight, gbias):
    """Writes a projection's kernel and bias gradients from dz (N, T, out) and its input rows."""
    flat = dz.reshape(-1, dz.shape[-1])
    np.matmul(flat.T, rows.reshape(-1, rows.shape[-1]), out=gweight)
    if gbias is not None:
        np.sum(flat, axis=0, out=gbias)


def attention(node, ctx):
    t, heads, causal = ctx.tensors(node), node.params["heads"], node.params["causal"]
    names = ("q", "k", "v", "o")
    weights = [t.get(f"{n}_weight") for n in names]
    biases = [t.get(f"{n}_bias") for n in names]
    gweights = [t.grad(f"{n}_weight") for n in names]
    gbiases = [
        t.grad(f"{n}_bias") if b is not None else None for n, b in zip(names, biases, strict=True)
    ]

    def forward(x):
        q, k, v = (
            attention_heads(attention_project(x, w, b), heads)
            for w, b in zip(weights[:3], biases[:3], strict=True)
        )
        a = attention_weights(q, k, causal)
        context = attention_merge(a @ v)
        y = attention_project(context, weights[3], biases[3])

        def backprop(dy):
            _project_grads(dy, context, gweights[3], gbiases[3])
            dc = attention_heads(dy @ weights[3], heads)
            dv = a.transpose(0, 1, 3, 2) @ dc
            ds = dc @ v.transpose(0, 1, 3, 2)  # d a, turned into d scores in place
            ds -= np.einsum("nhij,nhij->nhi", ds, a)[..., None]
            ds *= a
            ds *= q.shape[-1] ** -0.5
            dq, dk = ds @ k, ds.transpose(0, 1, 3, 2) @ q
            dx = np.zeros_like(x)
            for i, d in enumerate((dq, dk, dv)):
                dz = attention_merge(d)
                _project_grads(dz, x, gweights[i], gbiases[i])
                dx += dz @ weights[i]
            return dx

        return y, backprop

    return forward
