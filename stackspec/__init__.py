"""stackspec: a declarative model-spec compiler for layer stacks (NumPy and PyTorch backends)."""

from __future__ import annotations

from .diagnostics import Diagnostic, SpecError
from .spec import Spec, load, parse

__all__ = ["Diagnostic", "Spec", "SpecError", "load", "parse"]
__version__ = "0.1.0"
