"""The PyTorch backend: a spec compiled to a plain torch.nn.Module (LANGUAGE.md §10).

Importing this package imports torch; `stackspec.backends.compile_model` checks for torch first
and says how to install it.
"""

from __future__ import annotations

from .model import TorchModel

__all__ = ["TorchModel"]
