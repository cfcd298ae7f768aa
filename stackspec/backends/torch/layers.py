"""PyTorch layers: one function per registry key, each taking an IR node, returning an nn.Module.

Every function builds native modules (nn.Linear, nn.BatchNorm1d, ...), so the compiled model is
an ordinary nn.Sequential that torch.compile, hooks and a user's own loop all understand. A layer
with an activation returns nn.Sequential(layer, activation); the model flattens it, and the
node's weights (§8 keys `{node.id}.{name}`) live on `holder(module)`, its first module.

Semantics are LANGUAGE.md §5; the comments note where a torch default differs from ours.
"""

from __future__ import annotations

import torch
from torch import nn

from ...layers import LAYERS, STRUCTURAL, conv_padding


class Residual(nn.Module):
    """y = x + body(x); the body is an nn.Sequential of the residual's nodes."""

    def __init__(self, body: nn.Sequential):
        super().__init__()
        self.body = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def holder(module: nn.Module) -> nn.Module:
    """The module holding a node's weights: the first one with tensors (the layer itself, not
    its padding or activation)."""
    if type(module) is not nn.Sequential:
        return module
    with_tensors = (m for m in module if any(True for _ in (*m.parameters(), *m.buffers())))
    return next(with_tensors, module[0])


def _chain(*modules: nn.Module, activation: str = "linear") -> nn.Module:
    """The modules, then the activation: one module alone, else an nn.Sequential."""
    if activation != "linear":
        modules = (*modules, LAYER_FUNCTIONS[activation](None))
    return modules[0] if len(modules) == 1 else nn.Sequential(*modules)


def dense(node) -> nn.Module:
    p = node.params
    linear = nn.Linear(node.input_shape[0], p["units"], bias=p["bias"])
    return _chain(linear, activation=p["activation"])


def conv2d(node) -> nn.Module:
    p = node.params
    top, bottom, left, right = conv_padding(p)
    symmetric = (top, left) == (bottom, right)
    conv = nn.Conv2d(
        node.input_shape[0],
        p["filters"],
        p["kernel"],
        stride=p["stride"],
        padding=(top, left) if symmetric else 0,
        bias=p["bias"],
    )
    if symmetric:
        return _chain(conv, activation=p["activation"])
    # `same` with an even kernel: the odd pixel goes at the bottom/right (conv_padding). An
    # explicit pad, as torch would do internally for padding="same" (with a warning).
    pad = nn.ZeroPad2d((left, right, top, bottom))
    return _chain(pad, conv, activation=p["activation"])


def dropout(node) -> nn.Module:
    # nn.Dropout draws its masks from torch's global RNG, which TorchModel seeds from the seed.
    return nn.Dropout(node.params["rate"])


def batchnorm(node) -> nn.Module:
    p = node.params
    cls = nn.BatchNorm1d if len(node.input_shape) == 1 else nn.BatchNorm2d
    # Our momentum is the fraction of the running statistic kept (Keras); torch's is the
    # fraction replaced. torch already updates running_var with the unbiased batch variance.
    return cls(node.input_shape[0], eps=p["eps"], momentum=1.0 - p["momentum"], affine=p["affine"])


def layernorm(node) -> nn.Module:
    p = node.params
    return nn.LayerNorm(node.input_shape[-1], eps=p["eps"], elementwise_affine=p["affine"])


def maxpool2d(node) -> nn.Module:
    p = node.params
    # torch pads max pooling with -inf, as §4 says.
    return nn.MaxPool2d(p["size"], stride=p["stride"], padding=p["padding"])


def avgpool2d(node) -> nn.Module:
    p = node.params
    return nn.AvgPool2d(
        p["size"], stride=p["stride"], padding=p["padding"], count_include_pad=False
    )


def globalavgpool(node) -> nn.Module:
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())


def flatten(node) -> nn.Module:
    return nn.Flatten()


def residual(node) -> nn.Module:
    return Residual(nn.Sequential(*(module_for(n) for n in node.body)))


# Activations are layers too (`relu`) and dense/conv2d arguments (`dense 64 relu`), where they
# take their default parameters: node is None there.


def _param(node, name: str, default: float) -> float:
    return default if node is None else node.params[name]


def linear(node) -> nn.Module:
    return nn.Identity()


def relu(node) -> nn.Module:
    return nn.ReLU()


def sigmoid(node) -> nn.Module:
    return nn.Sigmoid()


def tanh(node) -> nn.Module:
    return nn.Tanh()


def softmax(node) -> nn.Module:
    return nn.Softmax(dim=-1)


def gelu(node) -> nn.Module:
    return nn.GELU()  # exact (erf), torch's default


def silu(node) -> nn.Module:
    return nn.SiLU()


def elu(node) -> nn.Module:
    return nn.ELU(alpha=_param(node, "alpha", 1.0))


def selu(node) -> nn.Module:
    return nn.SELU()


def leaky_relu(node) -> nn.Module:
    return nn.LeakyReLU(_param(node, "slope", 0.01))


def softplus(node) -> nn.Module:
    # threshold=20 returns x where log1p(exp(x)) - x < 3e-9: the same in float32.
    return nn.Softplus()


def module_for(node) -> nn.Module:
    """The module computing `node`, from the function named as its registry key."""
    return LAYER_FUNCTIONS[node.op](node)


# Dispatch by name: every registry key (and residual) whose function this module defines.
# tests/test_torch_backend.py fails if a key has none.
LAYER_FUNCTIONS = {
    name: globals()[name] for name in (*LAYERS, *STRUCTURAL) if callable(globals().get(name))
}
