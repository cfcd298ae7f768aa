"""TorchModel: a spec compiled to a plain torch.nn.Module.

The layers are one flat nn.Sequential of native modules (a residual is one module holding its
body), exactly what a user would write by hand, so `model(x)`, `model.train()/eval()`,
`model.parameters()` in a user's own loop, and `torch.compile(model)` all work as usual.
The Model mixin adds fit/predict/evaluate/save/load; this file supplies only the tensor code.

Randomness: initial weights come from `stackspec.init.initial_weights(ir, seed)`, shared with the
NumPy backend. Dropout masks come from torch's global RNG (nn.Dropout has no generator argument),
which `_begin_training` seeds with `torch.manual_seed(seed)`: same seed, same masks.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...diagnostics import UserError
from ...init import initial_weights
from ...model import Model
from .layers import holder, module_for


def _squeezed(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    # A model output (N, 1) against a target (N,) must never broadcast to (N, N).
    if out.shape != y.shape and out.shape[1:] == (1,) and y.shape == out.shape[:1]:
        return out[:, 0]
    if out.shape != y.shape:
        raise ValueError(
            f"outputs of shape {tuple(out.shape)} do not match targets of shape {tuple(y.shape)}"
        )
    return out


LOSSES = {
    "mse": lambda out, y, p: F.mse_loss(_squeezed(out, y), y),
    "mae": lambda out, y, p: F.l1_loss(_squeezed(out, y), y),
    # torch's huber is ours: 0.5 d^2 inside delta, delta (|d| - delta/2) outside.
    "huber": lambda out, y, p: F.huber_loss(_squeezed(out, y), y, delta=p["delta"]),
    "bce": lambda out, y, p: F.binary_cross_entropy_with_logits(_squeezed(out, y), y),
    "crossentropy": lambda out, y, p: F.cross_entropy(out, y),
}

# torch.optim's update formulas are the project's (common decisions), so these are plain calls.
OPTIMIZERS = {
    "adam": lambda params, o: torch.optim.Adam(
        params, lr=o["lr"], betas=(o["beta1"], o["beta2"]), eps=o["eps"]
    ),
    "adamw": lambda params, o: torch.optim.AdamW(
        params,
        lr=o["lr"],
        betas=(o["beta1"], o["beta2"]),
        eps=o["eps"],
        weight_decay=o["weight_decay"],
    ),
    # torch refuses nesterov without momentum; with momentum 0 nesterov is plain SGD anyway.
    "sgd": lambda params, o: torch.optim.SGD(
        params,
        lr=o["lr"],
        momentum=o["momentum"],
        nesterov=o["nesterov"] and o["momentum"] > 0,
    ),
    "rmsprop": lambda params, o: torch.optim.RMSprop(
        params, lr=o["lr"], alpha=o["rho"], eps=o["eps"]
    ),
}


def resolve_device(device: str | torch.device) -> torch.device:
    """ "auto" is CUDA when available, else the CPU; a CUDA request without a GPU is an error."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise UserError(f"unknown device '{device}'; use cpu, cuda or auto") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError("device cuda requested but no CUDA GPU is available; use --device cpu")
    return dev


def _flatten_into(modules: list[nn.Module], module: nn.Module) -> None:
    # A layer with its activation comes as nn.Sequential(layer, act); splicing it into the
    # top-level Sequential keeps one module call per native module, as a hand-written model.
    if type(module) is nn.Sequential:
        modules.extend(module)
    else:
        modules.append(module)


class TorchModel(Model, nn.Module):
    """A spec as an nn.Module; `forward` maps a float32 (N, *input) tensor to raw outputs."""

    backend = "torch"

    def __init__(self, spec, seed: int | None = None, device: str = "auto"):
        nn.Module.__init__(self)
        self.spec = spec
        self.device = resolve_device(device)
        modules: list[nn.Module] = []
        # §8 key -> (module, attribute): where each weight-file tensor lives.
        self._slots: dict[str, tuple[nn.Module, str]] = {}
        for node in spec.ir.nodes:
            module = module_for(node)
            self._register(node, module)
            _flatten_into(modules, module)
        self.layers = nn.Sequential(*modules)
        seed = spec.ir.train["seed"] if seed is None else seed
        self.set_weights(initial_weights(spec.ir, seed))
        self.to(self.device)
        self._optimizer = self._loss = None

    def _register(self, node, module: nn.Module) -> None:
        owner = holder(module)
        for name in (*node.weights, *node.state):
            self._slots[f"{node.id}.{name}"] = (owner, name)
        for child, child_module in zip(node.body, module.body if node.body else (), strict=True):
            self._register(child, child_module)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)

    def _apply(self, fn, *args, **kwargs):
        # model.to(...)/.cuda()/.cpu() all come here: keep the device that batches go to in step.
        out = super()._apply(fn, *args, **kwargs)
        first = next(iter((*self.parameters(), *self.buffers())), None)
        if first is not None:
            self.device = first.device
        return out

    # --- the Model mixin's tensor code -------------------------------------------------------

    def _tensor(self, a: np.ndarray, dtype=np.float32) -> torch.Tensor:
        return torch.as_tensor(np.asarray(a, dtype=dtype)).to(self.device, non_blocking=True)

    def _predict_batch(self, x: np.ndarray) -> np.ndarray:
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                return self.layers(self._tensor(x)).cpu().numpy()
        finally:
            self.train(was_training)

    def _begin_training(self, train: dict) -> None:
        opt = train["optimizer"]
        self._optimizer = OPTIMIZERS[opt["name"]](self.parameters(), opt)
        self._loss_params = train["loss"]
        self._loss = LOSSES[train["loss"]["name"]]
        self._labels = np.int64 if train["loss"]["name"] == "crossentropy" else np.float32
        torch.manual_seed(train["seed"])
        self.train()

    def _train_step(self, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        if self._optimizer is None:
            raise RuntimeError("_begin_training must be called before _train_step")
        xb, yb = self._tensor(x), self._tensor(y, self._labels)
        out = self.layers(xb)
        loss = self._loss(out, yb, self._loss_params)
        self._optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self._optimizer.step()
        # One device->host copy for the loss and the outputs together: one sync per step.
        both = torch.cat((loss.detach().reshape(1), out.detach().reshape(-1))).cpu().numpy()
        return float(both[0]), both[1:].reshape(out.shape)

    def get_weights(self) -> dict[str, np.ndarray]:
        return {
            key: getattr(module, name).detach().cpu().numpy().copy()
            for key, (module, name) in self._slots.items()
        }

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        if set(weights) != set(self._slots):
            missing = sorted(set(self._slots) - set(weights))
            extra = sorted(set(weights) - set(self._slots))
            raise ValueError(f"weights do not match the model: missing {missing}, extra {extra}")
        with torch.no_grad():
            for key, (module, name) in self._slots.items():
                target, value = getattr(module, name), np.asarray(weights[key], np.float32)
                if tuple(value.shape) != tuple(target.shape):
                    raise ValueError(
                        f"weight {key}: expected shape {tuple(target.shape)}, got {value.shape}"
                    )
                target.copy_(torch.from_numpy(value))
