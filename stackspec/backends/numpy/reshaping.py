"""Layers that only change an example's shape: `flatten` and `reshape`. Their backward pass is
the inverse reshape of the incoming gradient."""

from __future__ import annotations


def flatten_values(x):
    return x.reshape(len(x), -1)


def flatten(node, ctx):
    def forward(x):
        return x.reshape(x.shape[0], -1), lambda dy: dy.reshape(x.shape)

    return forward


def reshape_values(x, shape):
    return x.reshape(len(x), *shape)


def reshape(node, ctx):
    shape = tuple(node.params["shape"])

    def forward(x):
        return x.reshape(len(x), *shape), lambda dy: dy.reshape(x.shape)

    return forward
