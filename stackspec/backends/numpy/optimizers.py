"""Optimizers as small in-place update rules, following PyTorch's formulas exactly (so the torch
backend can use torch.optim and match), except Adam's eps, which is where Keras puts it (the torch
backend sets torch's eps per step to match, LANGUAGE.md §6).

A rule `rule(p, g, state, t, **hyper)` updates the parameters p in place from the gradients g
at step t (1-based); `state` is the rule's dict of buffers. NumpyModel keeps every trainable
tensor as a view of one flat float32 array, so one rule call updates the whole model in a few
vectorised passes. `tmp` is a scratch buffer: no per-step allocations.
"""

from __future__ import annotations

import math

import numpy as np

from . import kernels


def _buffer(state: dict, name: str, like: np.ndarray) -> np.ndarray:
    if name not in state:
        state[name] = np.zeros_like(like)
    return state[name]


def clip_gradients(g: np.ndarray, clip: dict | None) -> None:
    """torch.nn.utils' rules on the flat gradients, in place: `norm` scales all of them by
    norm / (total + 1e-6) when that is below 1 (total: their global L2 norm), `value` clamps
    each to [-value, value]."""
    if clip is None:
        return
    if "value" in clip:
        np.clip(g, -clip["value"], clip["value"], out=g)
        return
    total = math.sqrt(float(np.dot(g, g)))
    coef = clip["norm"] / (total + 1e-6)
    if coef < 1:
        g *= np.float32(coef)


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


def adam(p, g, state, t, lr, beta1=0.9, beta2=0.999, eps=1e-7, weight_decay=0.0, kernels=kernels):
    """Adam, and AdamW when weight_decay > 0: the decay is decoupled (p *= 1 - lr*wd before the
    Adam step, Loshchilov & Hutter, as torch.optim.AdamW). Plain Adam has no weight decay.

    The update is kernels.adam (NumPy) or its compiled twin: m = b1*m + (1-b1)*g as torch's
    lerp, m + (1-b1)*(g - m); v = b2*v + (1-b2)*g^2; then Keras's
    p -= lr_t * m / (sqrt(v) + eps), lr_t = lr*sqrt(1-b2^t)/(1-b1^t). torch adds eps after
    dividing sqrt(v) by sqrt(1-b2^t): in Keras's terms an eps smaller by that factor (1/31.6 at
    step 1), which lets float32 noise in zero gradients move weights early."""
    m, v, tmp = (_buffer(state, name, p) for name in ("m", "v", "tmp"))
    f = p.dtype.type  # float32 constants: neither kernel computes in float64
    step = lr * math.sqrt(1 - beta2**t) / (1 - beta1**t)
    decay = 1 - lr * weight_decay
    kernels.adam(p, g, m, v, tmp, f(1 - beta1), f(beta2), f(1 - beta2), f(eps), f(step), f(decay))


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

    def __init__(self, settings: dict, params: np.ndarray, grads: np.ndarray, clip=None):
        self.rule = OPTIMIZERS[settings["name"]]
        self.hyper = {k: v for k, v in settings.items() if k != "name"}
        self.params, self.grads = params, grads
        self.state: dict[str, np.ndarray] = {}
        self.t = 0
        self.clip = clip
        self.kernels = kernels  # or compiled.py, for Adam (NumpyModel switches it)

    def step(self) -> None:
        """Clip the gradients (when asked) and update the parameters."""
        clip_gradients(self.grads, self.clip)
        self.t += 1
        extra = {"kernels": self.kernels} if self.rule is adam else {}
        self.rule(self.params, self.grads, self.state, self.t, **self.hyper, **extra)
