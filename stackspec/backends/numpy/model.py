"""NumpyModel: the hand-written NumPy backend behind the Model API (stackspec/model.py).

Only tensor code lives here; batching, history, early stopping and files are in fit.py and
model.py. Every trainable tensor is a view of one flat float32 array (and its gradient a view
of another), so the optimizer updates the whole model in a few vectorised passes and weights
are replaced in place, which the layer closures rely on.
"""

from __future__ import annotations

import math

import numpy as np

from ...layers.init import initial_weights
from ...numerics import loss_and_grad
from ...training.model import Model
from . import kernels
from .layers import Context, build
from .optimizers import BUFFERS, Optimizer

# Dropout masks come from their own stream of the seed, distinct from the batch order's.
DROPOUT_STREAM = 1


class NumpyModel(Model):
    """A spec compiled to NumPy.

    Beyond the Model API, `forward(x, training)` returns `(y, backprop)`; `backprop(dy)` returns
    the input gradient and fills `grads` (weight-file key -> gradient of each trainable tensor).
    Parity tests and tools use these; `params` holds every tensor (trainable and state).
    `forward` is the whole model, as the emitted source computes it; `logits` is the same
    without a final activation that the loss takes over (`ir.logit_nodes()`, §6), and is what
    training and `_predict_batch` run: the fused loss reads its values, predict applies the
    activation once.
    """

    backend = "numpy"

    def __init__(self, spec, seed: int | None = None):
        self.spec = spec
        ir = spec.ir
        trainable = {n.keys()[name]: w for n in ir.walk() for name, w in n.weights.items()}
        total = sum(math.prod(w.shape) for w in trainable.values())
        self._flat_params = np.zeros(total, dtype=np.float32)
        self._flat_grads = np.zeros(total, dtype=np.float32)
        params, grads, offset = {}, {}, 0
        self._spans: dict[str, slice] = {}  # trainable key -> its part of the flat arrays
        for key, w in ir.tensors().items():
            if key in trainable:
                size = math.prod(w.shape)
                self._spans[key] = slice(offset, offset + size)
                params[key] = self._flat_params[offset : offset + size].reshape(w.shape)
                grads[key] = self._flat_grads[offset : offset + size].reshape(w.shape)
                offset += size
            else:
                params[key] = np.zeros(w.shape, dtype=np.float32)
        self.params, self.grads = params, grads
        self._ctx = Context(params, grads)
        self.forward = build(ir.nodes, self._ctx)
        fused = ir.fused_activation() is not None
        self.logits = build(ir.logit_nodes(), self._ctx) if fused else self.forward
        self._loss: dict | None = None
        self._optimizer: Optimizer | None = None
        self.set_weights(initial_weights(ir, seed if seed is not None else ir.train["seed"]))

    # --- the Model API's tensor code ------------------------------------------------------

    def _predict_batch(self, x: np.ndarray) -> np.ndarray:
        y, _ = self.logits(np.asarray(x, dtype=np.float32), False)
        return y

    def _begin_training(self, train: dict) -> None:
        self._loss = train["loss"]
        self._optimizer = Optimizer(
            train["optimizer"], self._flat_params, self._flat_grads, train.get("clip")
        )
        self._ctx.rng = np.random.default_rng([DROPOUT_STREAM, train["seed"]])
        # Compiled kernels give the same bits, so when a run switches to them changes nothing
        # but its speed: from the first step if asked, else once it has done enough work to
        # repay loading them (kernels.COMPILE_AFTER; never for most small models).
        work = kernels.COMPILE_AFTER / max(1, self._flat_params.size)
        self._compile_at = 0 if kernels.compile_now() else math.ceil(work)

    def _set_lr(self, lr: float) -> None:
        if self._optimizer is None:
            raise RuntimeError("_begin_training must be called before _set_lr")
        self._optimizer.hyper["lr"] = lr

    def _train_step(self, x: np.ndarray, y: np.ndarray, w=None) -> tuple[float, np.ndarray]:
        if self._optimizer is None:
            raise RuntimeError("_begin_training must be called before _train_step")
        if self._compile_at is not None and self._optimizer.t >= self._compile_at:
            self._compile_at = None
            compiled = kernels.compiled()
            if compiled is not None:
                self._ctx.kernels = self._optimizer.kernels = compiled
        out, backprop = self.logits(np.asarray(x, dtype=np.float32), True)
        loss, dout = loss_and_grad(self._loss, out, y, w)
        self._ctx.no_input_grad = self.ir.nodes[0].id  # the data's gradient is never read
        try:
            backprop(dout)
        finally:
            self._ctx.no_input_grad = None
        self._optimizer.step()
        return loss, out

    def _optimizer_state(self, copy: bool = True) -> tuple[dict[str, np.ndarray], dict]:
        opt = self._optimizer
        tensors = {}
        for name, flat in opt.state.items():
            if name in BUFFERS:
                for key, span in self._spans.items():
                    view = flat[span].reshape(self.params[key].shape)
                    tensors[f"{key}.{name}"] = view.copy() if copy else view
        return tensors, {"t": opt.t}

    def _load_optimizer_state(self, tensors: dict[str, np.ndarray], scalars: dict) -> None:
        opt = self._optimizer
        opt.state.clear()
        for name in BUFFERS:
            if any(k.endswith(f".{name}") for k in tensors):
                flat = opt.state[name] = np.zeros_like(self._flat_params)
                for key, span in self._spans.items():
                    flat[span] = np.asarray(tensors[f"{key}.{name}"], np.float32).reshape(-1)
        opt.t = int(scalars["t"])

    def _rng_state(self) -> dict:
        return {"numpy": self._ctx.rng.bit_generator.state}

    def _set_rng_state(self, state: dict) -> None:
        self._ctx.rng.bit_generator.state = state["numpy"]

    def get_weights(self) -> dict[str, np.ndarray]:
        return {key: self.params[key].copy() for key in self.ir.tensors()}

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        for key, value in self._checked(weights).items():
            # In place: the layer closures hold these very arrays.
            np.copyto(self.params[key], value, casting="same_kind")
