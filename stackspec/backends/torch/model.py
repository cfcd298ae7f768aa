"""TorchModel: a spec compiled to a plain torch.nn.Module.

The layers are one flat nn.Sequential of native modules (a residual is one module holding the
flat sequence of its body), built from the descriptions of layers.py, which the emitted source
prints too: a compiled model's state_dict loads into the emitted module. That is what a user
would write by hand, so `model(x)`, `model.train()/eval()`,
`model.parameters()` in a user's own loop, and `torch.compile(model)` all work as usual.
The Model mixin adds fit/predict/evaluate/save/load; this file supplies only the tensor code.

Randomness: initial weights come from `stackspec.layers.init.initial_weights(ir, seed)`,
shared with the NumPy backend. Dropout masks come from torch's global RNG (nn.Dropout has no
generator argument), which `_begin_training` seeds with `torch.manual_seed(seed)`: same seed,
same masks.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
from torch import nn

from ...diagnostics import UserError
from ...layers.init import initial_weights
from ...numerics import aligned_shape
from ...training.model import Model
from . import layers
from .modules import build
from .optim import BUFFER_NAMES, LOSSES, OPTIMIZER_BUFFERS, OPTIMIZERS, fastest_kwargs
from .precision import (
    autocast,
    check_compile,
    check_precision,
    compiled,
    grad_scaler,
    load_scaler_state,
    scaler_state,
)


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


class Scriptable(nn.Module):
    """What `torch.jit.script(model)` compiles for a TorchModel (its __prepare_scriptable__):
    the same layers, `forward`, and `logits` exported. The export lives here, not on TorchModel:
    torch.jit.trace compiles a module's exported methods with TorchScript while it traces, and
    such a compiled call of nn.LSTM/nn.GRU finds none of their forward overloads ("Couldn't
    find method: 'forward__0'"), so a model with lstm/gru could not be traced."""

    def __init__(self, layers_: nn.Sequential, logit_modules: int):
        super().__init__()
        self.layers = layers_  # the model's own modules: the scripted one shares its tensors
        self._logit_modules = logit_modules

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)

    @torch.jit.export
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        # enumerate, not itertools.islice: TorchScript unrolls a loop over an nn.Sequential.
        for i, module in enumerate(self.layers):
            if i < self._logit_modules:
                x = module(x)
        return x


class TorchModel(Model, nn.Module):
    """A spec as an nn.Module; `forward` maps a float32 (N, *input) tensor to the model's
    outputs (probabilities after a final sigmoid/softmax), `logits` to what the loss reads."""

    backend = "torch"

    def __init__(self, spec, seed: int | None = None, device: str = "auto"):
        nn.Module.__init__(self)
        self.spec = spec
        self.device = resolve_device(device)
        sequence = layers.modules(spec.ir.nodes)
        self.layers = nn.Sequential(*(build(m) for m in sequence))
        # A final sigmoid/softmax that the loss takes over (§6) is the last module: training and
        # _predict_batch stop before it (the loss is on logits), while `forward`, like the
        # emitted source, keeps it and gives probabilities.
        fused = spec.ir.fused_activation()
        self._logit_modules = len(self.layers) - (fused is not None)
        if fused and not isinstance(self.layers[-1], nn.Softmax | nn.Sigmoid):
            raise AssertionError(f"the model's last module is not its final {fused}")
        # §8 key -> (module, attribute): where each weight-file tensor lives.
        # Not annotated: TorchScript warns of an instance-level annotation of a non-tensor.
        self._slots = {}
        for key, path in layers.state_keys(sequence).items():
            owner, _, name = path.rpartition(".")
            self._slots[key] = (self.get_submodule(owner), name)
        seed = spec.ir.train["seed"] if seed is None else seed
        self.set_weights(initial_weights(spec.ir, seed))
        self.to(self.device)
        self._optimizer = self._loss = None
        self._precision, self._scaler, self._forward = "32", None, self.logits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """The model without a final activation that the loss takes over: what the loss reads."""
        return Scriptable.logits(self, x)  # the same loop, which TorchScript compiles there

    def __prepare_scriptable__(self) -> Scriptable:
        # torch.jit.script compiles this instead of the model (the Model API is Python).
        return Scriptable(self.layers, self._logit_modules)

    def _apply(self, fn, *args, **kwargs):
        # model.to(...)/.cuda()/.cpu() all come here: keep the device that batches go to in step.
        out = super()._apply(fn, *args, **kwargs)
        first = next(iter((*self.parameters(), *self.buffers())), None)
        if first is not None:
            self.device = first.device
        return out

    # --- the Model mixin's tensor code -------------------------------------------------------

    def _tensor(self, a: np.ndarray, dtype=np.float32) -> torch.Tensor:
        a = np.asarray(a)
        if a.dtype != dtype or not a.flags.writeable:
            a = a.astype(dtype)  # from_numpy shares memory, so only with an array of our own
        t = torch.from_numpy(a)
        return t if self.device.type == "cpu" else t.to(self.device, non_blocking=True)

    def _predict_batch(self, x: np.ndarray) -> np.ndarray:
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                return self.logits(self._tensor(x)).cpu().numpy()
        finally:
            self.train(was_training)

    def _check_training(self, precision: str, compile: bool) -> None:
        check_precision(precision, self.device)
        if compile:
            check_compile(self.device)

    def _begin_training(self, train: dict) -> None:
        opt, loss = train["optimizer"], dict(train["loss"])
        fast = fastest_kwargs(opt["name"], self.device)
        self._optimizer = OPTIMIZERS[opt["name"]](self.parameters(), opt, fast)
        self._adam = opt if opt["name"] in ("adam", "adamw") else None
        self._clip = train.get("clip")
        name = loss.pop("name")
        self._loss = functools.partial(LOSSES[name], **loss)  # e.g. huber's delta
        self._labels = np.int64 if name == "crossentropy" else np.float32
        self._loss_name = name
        torch.manual_seed(train["seed"])
        self._steps = 0  # SGD's torch state holds no step count; checkpoints need one
        # Mixed precision and torch.compile of the training steps (precision.py).
        self._precision = train.get("precision", "32")
        self._scaler = grad_scaler(self._precision, self.device)
        self._forward = compiled(self.logits) if train.get("compile") else self.logits
        self.train()

    def _set_lr(self, lr: float) -> None:
        if self._optimizer is None:
            raise RuntimeError("_begin_training must be called before _set_lr")
        for group in self._optimizer.param_groups:
            group["lr"] = lr

    def _clip_gradients(self) -> None:
        if "norm" in self._clip:
            nn.utils.clip_grad_norm_(self.parameters(), self._clip["norm"])
        else:
            nn.utils.clip_grad_value_(self.parameters(), self._clip["value"])

    def _keras_eps(self) -> None:
        """Keras adds eps to sqrt(v) before the bias correction; torch after it. torch with
        eps / sqrt(1 - beta2^t) computes Keras's step t (LANGUAGE.md §6). t is read from the
        optimizer's state, so it continues after a resumed optimizer state. (With fused kernels
        on a GPU that state is a device tensor, and the read a sync per step.)"""
        group = self._optimizer.param_groups[0]
        state = self._optimizer.state.get(group["params"][0])
        t = 1 + (int(state["step"]) if state else 0)
        eps = self._adam["eps"] / math.sqrt(1 - self._adam["beta2"] ** t)
        for group in self._optimizer.param_groups:
            group["eps"] = eps

    def _aligned(self, out: torch.Tensor, y: np.ndarray) -> torch.Tensor:
        return out.reshape(aligned_shape(out.shape, y.shape, self._loss_name))

    def _weighted_loss(self, out: torch.Tensor, y: torch.Tensor, w: torch.Tensor):
        """Keras's weighted loss: sum_i w_i * l_i / N, l_i the mean over example i's outputs."""
        values = self._loss(out, y, reduction="none")
        per_example = values.reshape(len(values), -1).mean(dim=1)
        return (per_example * w).sum() / len(values)

    def _train_step(self, x: np.ndarray, y: np.ndarray, w=None) -> tuple[float, np.ndarray]:
        if self._optimizer is None:
            raise RuntimeError("_begin_training must be called before _train_step")
        # Every copy to the device before the forward: a copy from pageable host memory
        # queued after the forward's kernels would make the host wait for them.
        xb, yb = self._tensor(x), self._tensor(y, self._labels)
        wb = None if w is None else self._tensor(w)
        with autocast(self._precision, self.device):
            out = self._forward(xb)
        out = out.float()  # the loss, the metrics and the history in float32, whatever the step
        if wb is None:
            loss = self._loss(self._aligned(out, y), yb)
        else:
            loss = self._weighted_loss(self._aligned(out, y), yb, wb)
        self._optimizer.zero_grad(set_to_none=True)
        if self._scaler is None:
            loss.backward()
            self._update()
        else:
            self._scaled_update(loss)
        out = out.detach()
        if self.device.type == "cpu":
            return loss.item(), out.numpy()
        # One device->host copy for the loss and the outputs together: one sync per step.
        both = torch.cat((loss.detach().reshape(1), out.reshape(-1))).cpu().numpy()
        return float(both[0]), both[1:].reshape(out.shape)

    def _update(self) -> None:
        if self._clip is not None:
            self._clip_gradients()
        if self._adam is not None:
            self._keras_eps()
        self._optimizer.step()
        self._steps += 1

    def _scaled_update(self, loss: torch.Tensor) -> None:
        """float16's step: the GradScaler's backward, unscaled gradients for clipping, and a
        step skipped (not counted: Adam's t stays) when a gradient overflowed, which lowers the
        scale."""
        scaler = self._scaler
        scaler.scale(loss).backward()
        scaler.unscale_(self._optimizer)
        if self._clip is not None:
            self._clip_gradients()
        if self._adam is not None:
            self._keras_eps()
        scale = scaler.get_scale()
        scaler.step(self._optimizer)
        scaler.update()
        if scaler.get_scale() >= scale:  # the scale drops only when the step was skipped
            self._steps += 1

    def _param_keys(self) -> list[str]:
        """The §8 key of each parameter, in the optimizer's (parameters()) order."""
        keys = {id(getattr(m, name)): key for key, (m, name) in self._slots.items()}
        return [keys[id(p)] for p in self.parameters()]

    def _optimizer_state(self, copy: bool = True) -> tuple[dict[str, np.ndarray], dict]:
        keys = self._param_keys()
        tensors = {}
        for index, state in self._optimizer.state_dict()["state"].items():
            for name, value in state.items():
                if name in BUFFER_NAMES and value is not None:
                    array = value.detach().cpu().numpy().astype(np.float32, copy=copy)
                    tensors[f"{keys[index]}.{BUFFER_NAMES[name]}"] = array
        scalars = {"t": self._steps}
        if self._scaler is not None:
            scalars["grad_scaler"] = scaler_state(self._scaler)
        return tensors, scalars

    def _load_optimizer_state(self, tensors: dict[str, np.ndarray], scalars: dict) -> None:
        t = int(scalars["t"])
        own = {
            v: k for k, v in BUFFER_NAMES.items() if k in OPTIMIZER_BUFFERS[type(self._optimizer)]
        }
        state = {}
        for index, key in enumerate(self._param_keys()):
            entry = {
                name: torch.from_numpy(np.array(tensors[f"{key}.{ours}"], np.float32))
                for ours, name in own.items()
                if f"{key}.{ours}" in tensors
            }
            if not entry:
                continue  # no step yet: torch makes the buffers at the first step
            if isinstance(self._optimizer, torch.optim.Adam | torch.optim.RMSprop):
                # torch's own dtype for the step count (optimizer._get_scalar_dtype)
                dtype = (
                    torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32
                )
                entry["step"] = torch.tensor(float(t), dtype=dtype)
            state[index] = entry
        groups = self._optimizer.state_dict()["param_groups"]
        self._optimizer.load_state_dict({"state": state, "param_groups": groups})
        self._steps = t
        if self._scaler is not None and "grad_scaler" in scalars:
            load_scaler_state(self._scaler, scalars["grad_scaler"])

    def _rng_state(self) -> dict:
        import base64

        out = {"torch": base64.b64encode(torch.get_rng_state().numpy().tobytes()).decode()}
        if self.device.type == "cuda":
            cuda = torch.cuda.get_rng_state(self.device).numpy().tobytes()
            out["cuda"] = base64.b64encode(cuda).decode()
        return out

    def _set_rng_state(self, state: dict) -> None:
        import base64

        def tensor(text: str) -> torch.Tensor:
            return torch.frombuffer(bytearray(base64.b64decode(text)), dtype=torch.uint8)

        torch.set_rng_state(tensor(state["torch"]))
        if self.device.type == "cuda" and "cuda" in state:
            torch.cuda.set_rng_state(tensor(state["cuda"]), self.device)

    def _snapshot_arrays(self, snapshot: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
        # A snapshot is never changed (the loop takes a new one each epoch): on the CPU its
        # tensors' memory serves as it is; from a GPU, .cpu() is the one copy.
        return {key: t.cpu().numpy() for key, t in snapshot.items()}

    def get_weights(self) -> dict[str, np.ndarray]:
        tensors = {key: getattr(m, name).detach() for key, (m, name) in self._slots.items()}
        if self.device.type == "cpu":
            return {key: t.numpy().copy() for key, t in tensors.items()}
        # On a GPU: one device->host transfer (one sync) for every tensor, not one per tensor.
        flat = torch.cat([t.reshape(-1) for t in tensors.values()]).cpu().numpy()
        out, offset = {}, 0
        for key, t in tensors.items():
            out[key] = flat[offset : offset + t.numel()].reshape(t.shape)
            offset += t.numel()
        return out

    def _snapshot(self) -> dict[str, torch.Tensor]:
        """Every tensor copied where it lives (no host transfer): for a training loop's
        rollback and best-epoch copies, which a GPU would otherwise pay for each epoch."""
        return {key: getattr(m, name).detach().clone() for key, (m, name) in self._slots.items()}

    def _restore(self, snapshot: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            for key, (m, name) in self._slots.items():
                getattr(m, name).copy_(snapshot[key])

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        checked = self._checked(weights)
        with torch.no_grad():
            for key, (module, name) in self._slots.items():
                getattr(module, name).copy_(torch.from_numpy(checked[key]))
