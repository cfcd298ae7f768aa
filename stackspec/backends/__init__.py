"""Backends: NumPy (hand-written forward/backward, the default) and PyTorch (a real nn.Module).

A backend supplies only tensor code, as the abstract methods of `stackspec.training.model.Model`;
batching, history, early stopping, progress and files live once, in model.py and fit.py.
Backend layer functions are named as the registry keys (stackspec.layers.LAYERS).
"""

from __future__ import annotations

from ..diagnostics import UserError

BACKENDS = ("numpy", "torch")

TORCH_MISSING = (
    "the torch backend needs PyTorch, which is not installed; install it with "
    "`pip install 'stackspec[torch]'` (for the CPU build: `pip install torch==2.13.0`), "
    "or use --backend numpy"
)


def require_torch():
    try:
        import torch
    except ImportError:
        raise UserError(TORCH_MISSING) from None
    return torch


def compile_model(spec, backend: str = "numpy", **options):
    """A model of `spec` for `backend`; options go to the backend (e.g. torch's `device`)."""
    if options.get("seed") is not None:
        from ..training.fit_settings import check_seed

        check_seed(options["seed"])  # before torch is imported: a ValueError, not torch's
    if backend == "numpy":
        from .numpy import NumpyModel

        return NumpyModel(spec, **options)
    if backend == "torch":
        require_torch()
        from .torch import TorchModel

        return TorchModel(spec, **options)
    raise UserError(f"unknown backend '{backend}'; choose one of: {', '.join(BACKENDS)}")


def emit_python(spec, backend: str) -> str:
    """Standalone source of `spec`'s model for `backend` ("numpy" or "torch"): see source.py.
    Emitting never imports torch."""
    if backend == "numpy":
        from .numpy.source import numpy_source

        return numpy_source(spec)
    if backend == "torch":
        from .torch.source import torch_source

        return torch_source(spec)
    raise ValueError(f"unknown backend '{backend}'")
