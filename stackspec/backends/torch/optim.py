"""The torch backend's losses and optimizers: torch.optim and torch.nn.functional, chosen by
the spec's names, with the fastest implementation torch has for the device."""

from __future__ import annotations

import torch
import torch.nn.functional as F

# On (outputs, targets) of equal shapes. torch's huber is ours: 0.5 d^2 inside delta,
# delta (|d| - delta/2) outside; bce is on logits; crossentropy takes integer labels.
LOSSES = {
    "mse": F.mse_loss,
    "mae": F.l1_loss,
    "huber": F.huber_loss,
    "bce": F.binary_cross_entropy_with_logits,
    "crossentropy": F.cross_entropy,
}


# torch.optim's update formulas are the project's (common decisions), so these are plain calls;
# only Adam's eps is Keras's, which `_keras_eps` sets in the param groups before each step.
# `fast` is the implementation (`fastest_kwargs`).
OPTIMIZERS = {
    "adam": lambda params, o, fast: torch.optim.Adam(
        params, lr=o["lr"], betas=(o["beta1"], o["beta2"]), eps=o["eps"], **fast
    ),
    "adamw": lambda params, o, fast: torch.optim.AdamW(
        params,
        lr=o["lr"],
        betas=(o["beta1"], o["beta2"]),
        eps=o["eps"],
        weight_decay=o["weight_decay"],
        **fast,
    ),
    # torch refuses nesterov without momentum; with momentum 0 nesterov is plain SGD anyway.
    "sgd": lambda params, o, fast: torch.optim.SGD(
        params,
        lr=o["lr"],
        momentum=o["momentum"],
        nesterov=o["nesterov"] and o["momentum"] > 0,
        **fast,
    ),
    "rmsprop": lambda params, o, fast: torch.optim.RMSprop(
        params, lr=o["lr"], alpha=o["rho"], eps=o["eps"], **fast
    ),
}
# torch has fused kernels (one pass over every parameter) for these on the CPU and on CUDA; its
# default on a CPU is a Python loop over the tensors, 3-5x slower for red_wine's 2.1M parameters.
FUSED = ("adam", "adamw", "sgd")


def fastest_kwargs(name: str, device: torch.device) -> dict:
    """The fastest update torch has for optimizer `name` on `device`: fused where torch has a
    fused kernel for both, else foreach (the same formulas over lists of tensors)."""
    from torch.optim.optimizer import _get_fused_kernels_supported_devices

    if name in FUSED and device.type in _get_fused_kernels_supported_devices():
        return {"fused": True}
    return {"foreach": True}


# torch.optim's buffer names -> the checkpoint's (the NumPy optimizer's, model.py).
BUFFER_NAMES = {"exp_avg": "m", "exp_avg_sq": "v", "square_avg": "v", "momentum_buffer": "momentum"}
OPTIMIZER_BUFFERS = {
    torch.optim.Adam: ("exp_avg", "exp_avg_sq"),
    torch.optim.AdamW: ("exp_avg", "exp_avg_sq"),
    torch.optim.RMSprop: ("square_avg",),
    torch.optim.SGD: ("momentum_buffer",),
}
