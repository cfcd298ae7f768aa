"""The PyTorch backend: a spec compiled to a plain torch.nn.Module (LANGUAGE.md §10).

`TorchModel` imports torch, on first use: layers.py does not, so `compile --emit python` works
without torch. `stackspec.backends.compile_model` checks for torch first and says how to
install it.
"""

from __future__ import annotations

__all__ = ["TorchModel"]


def __getattr__(name: str):
    if name == "TorchModel":
        from .model import TorchModel

        return TorchModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
