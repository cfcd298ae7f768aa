"""The modules torch.nn lacks (layers.LOCAL, with attention.py's and lookups.py's), and `build`,
which turns a description of layers.py into the module it stands for. `compile --emit python`
copies these classes into the emitted source (source.py), so keep each self-contained."""

from __future__ import annotations

import torch
from torch import nn

from . import layers
from .attention import Attention
from .lookups import LOOKUPS


class Residual(nn.Module):
    """y = x + body(x); the body is an nn.Sequential."""

    def __init__(self, body):
        super().__init__()
        self.body = body

    def forward(self, x):
        return x + self.body(x)


class Concat(nn.Module):
    """y = the branches' outputs on the same x, concatenated along `dim`; each branch is an
    nn.Sequential."""

    def __init__(self, *branches, dim=-1):
        super().__init__()
        self.branches = nn.ModuleList(branches)
        self.dim = dim

    def forward(self, x):
        outs = []
        for branch in self.branches:
            outs.append(branch(x))
        return torch.cat(outs, dim=self.dim)


class Add(nn.Module):
    """y = the sum of the branches' outputs on the same x, first branch first; each branch is
    an nn.Sequential."""

    def __init__(self, *branches):
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x):
        outs = []
        for branch in self.branches:
            outs.append(branch(x))
        y = outs[0]
        for out in outs[1:]:
            y = y + out
        return y


class Normalize(nn.Module):
    """y = (x - mean) / max(sqrt(var), 1e-7) per feature (N, F) or channel (N, C, H, W): Keras's
    Normalization after adapt. The statistics are buffers (state, never trained) that stackspec's
    fit adapts from the training split."""

    def __init__(self, num_features):
        super().__init__()
        self.register_buffer("mean", torch.zeros(num_features))
        self.register_buffer("var", torch.ones(num_features))

    def forward(self, x):
        shape = [1, -1] + [1] * (x.dim() - 2)  # a list: TorchScript has no tuple repetition
        std = self.var.sqrt().clamp(min=1e-7).reshape(shape)
        return (x - self.mean.reshape(shape)) / std


class SwapAxes(nn.Module):
    """(N, T, F) <-> (N, F, T): torch's 1-D layers want the features (channels) before time."""

    def forward(self, x):
        return x.transpose(1, 2)


class Recurrent(nn.Module):
    """nn.LSTM or nn.GRU (batch_first) on (N, T, F), as Keras's LSTM/GRU (and Bidirectional):
    every step's outputs (N, T, units * directions) with return_sequences, else the last state
    of each direction: the forward one's at t = T-1, the backward one's at t = 0."""

    def __init__(self, cell, input_size, hidden_size, bidirectional, return_sequences):
        super().__init__()
        rnn = nn.LSTM if cell == "LSTM" else nn.GRU
        self.rnn = rnn(input_size, hidden_size, batch_first=True, bidirectional=bidirectional)
        self.hidden_size = hidden_size
        self.bidirectional = bidirectional
        self.return_sequences = return_sequences

    def forward(self, x):
        y = self.rnn(x)[0]
        if self.return_sequences:
            return y
        if not self.bidirectional:
            return y[:, -1]
        return torch.cat((y[:, -1, : self.hidden_size], y[:, 0, self.hidden_size :]), dim=-1)


def build(m: layers.Module) -> nn.Module:
    """The module that a description of layers.py stands for."""
    if m.cls == "Residual":
        return Residual(nn.Sequential(*(build(b) for b in m.body)))
    if m.cls in ("Concat", "Add"):
        branches = (nn.Sequential(*(build(b) for b in branch)) for branch in m.branches)
        return globals()[m.cls](*branches, **m.kwargs)
    if m.cls == "Normalize":
        return Normalize(*m.args, **m.kwargs)
    if m.cls == "SwapAxes":
        return SwapAxes()
    if m.cls in ("Recurrent", "Attention", *LOOKUPS):
        return {"Recurrent": Recurrent, "Attention": Attention, **LOOKUPS}[m.cls](
            *m.args, **m.kwargs
        )
    return getattr(nn, m.cls)(*m.args, **m.kwargs)
