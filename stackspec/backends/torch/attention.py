"""The Attention module (layers.LOCAL): Keras's MultiHeadAttention on (x, x) in torch.

Kept out of modules.py, which imports it, for the size of that file; `compile --emit python`
copies the class from here as it copies modules.py's (source.py), so it must stay
self-contained and may use only `torch` and `nn`.
"""

from __future__ import annotations

import torch
from torch import nn


class Attention(nn.Module):
    """Multi-head self-attention with an output projection, (N, T, F) -> (N, T, F): Keras's
    MultiHeadAttention(num_heads=heads, key_dim=key_dim) called on (x, x). The projections are
    nn.Linear (head j is output rows j*key_dim .. (j+1)*key_dim - 1); scaled_dot_product_attention
    scales by 1/sqrt(key_dim), and its is_causal lets step t attend to steps <= t."""

    def __init__(self, features: int, heads: int, key_dim: int, causal: bool, bias: bool):
        super().__init__()
        width = heads * key_dim
        self.query = nn.Linear(features, width, bias=bias)
        self.key = nn.Linear(features, width, bias=bias)
        self.value = nn.Linear(features, width, bias=bias)
        self.output = nn.Linear(width, features, bias=bias)
        self.heads = heads
        self.causal = causal

    def split(self, z: torch.Tensor) -> torch.Tensor:
        """(N, T, heads*key_dim) -> (N, heads, T, key_dim)."""
        return z.reshape(z.shape[0], z.shape[1], self.heads, -1).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.split(self.query(x)), self.split(self.key(x)), self.split(self.value(x))
        context = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=self.causal)
        context = context.transpose(1, 2).reshape(x.shape[0], x.shape[1], -1)
        return self.output(context)
