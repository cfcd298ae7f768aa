"""Optimizers as small in-place update rules, following PyTorch's formulas exactly (so the torch
backend can use torch.optim and match).

A rule `rule(p, g, state, t, **hyper)` updates the parameters p in place from the gradients g
at step t (1-based); `state` is the rule's dict of buffers. NumpyModel keeps every trainable
tensor as a view of one flat float32 array, so one rule call updates the whole model in a few
vectorised passes. `tmp` is a scratch buffer: no per-step allocations.
"""

from __future__ import annotations

import math

import numpy as np


def _buffer(state: dict, name: str, like: np.ndarray) -> np.ndarray:
    if name not in state:
        state[name] = np.zeros_like(like)
    return state[name]


def sgd(p, g, state, t, lr, momentum=0.0, nesterov=False):
    if momentum == 0:
        tmp = _buffer(state, "tmp", p)
        np.multiply(g, lr, out=tmp)
        p -= tmp
        return
    buf = _buffer(state, "momentum", p)
    if t == 1:
        np.copyto(buf, g)  # torch starts the buffer at the first gradient, not at zero
    else:
        buf *= momentum
        buf += g
    tmp = _buffer(state, "tmp", p)
    if nesterov:
        np.multiply(buf, momentum, out=tmp)
        tmp += g
        tmp *= lr
    else:
        np.multiply(buf, lr, out=tmp)
    p -= tmp


def adam(p, g, state, t, lr, beta1=0.9, beta2=0.999, eps=1e-7, weight_decay=0.0):
    """Adam, and AdamW when weight_decay > 0: the decay is decoupled (p *= 1 - lr*wd before the
    Adam step, Loshchilov & Hutter, as torch.optim.AdamW). Plain Adam has no weight decay."""
    if weight_decay:
        p *= 1 - lr * weight_decay
    m, v, tmp = (_buffer(state, name, p) for name in ("m", "v", "tmp"))
    # m = b1*m + (1-b1)*g, written as torch's lerp: m + (1-b1)*(g - m).
    np.subtract(g, m, out=tmp)
    tmp *= 1 - beta1
    m += tmp
    v *= beta2
    np.square(g, out=tmp)
    tmp *= 1 - beta2
    v += tmp
    # p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps): eps outside the bias correction,
    # as torch (Keras puts it inside, a slightly different eps_hat). Multiplying through by
    # c2 = sqrt(1-b2^t) saves a pass: p -= (lr*c2/(1-b1^t)) * m / (sqrt(v) + eps*c2).
    c2 = math.sqrt(1 - beta2**t)
    np.sqrt(v, out=tmp)
    tmp += eps * c2
    np.divide(m, tmp, out=tmp)
    tmp *= lr * c2 / (1 - beta1**t)
    p -= tmp


def rmsprop(p, g, state, t, lr, rho=0.9, eps=1e-7):
    # torch.optim.RMSprop with centered=False, momentum=0; alpha is our rho.
    v, tmp = _buffer(state, "v", p), _buffer(state, "tmp", p)
    v *= rho
    np.multiply(g, g, out=tmp)
    tmp *= 1 - rho
    v += tmp
    np.sqrt(v, out=tmp)
    tmp += eps
    np.divide(g, tmp, out=tmp)
    tmp *= lr
    p -= tmp


# The buffers that carry state from step to step (`tmp` is scratch): what a checkpoint saves.
BUFFERS = ("m", "v", "momentum")

OPTIMIZERS = {"sgd": sgd, "adam": adam, "adamw": adam, "rmsprop": rmsprop}


class Optimizer:
    """One training run's optimizer: a rule, its settings and its state, over flat arrays.

    (Splitting the update across threads was measured on the red-wine model: 0.4 ms of a
    25 ms step, not worth a thread pool; cache-sized chunks gained nothing either.)
    """

    def __init__(self, settings: dict, params: np.ndarray, grads: np.ndarray):
        self.rule = OPTIMIZERS[settings["name"]]
        self.hyper = {k: v for k, v in settings.items() if k != "name"}
        self.params, self.grads = params, grads
        self.state: dict[str, np.ndarray] = {}
        self.t = 0

    def step(self) -> None:
        self.t += 1
        self.rule(self.params, self.grads, self.state, self.t, **self.hyper)
