"""stackspec: a declarative model-spec compiler for layer stacks (NumPy and PyTorch backends)."""

from __future__ import annotations

__all__ = ["Callback", "Checkpoint", "Diagnostic", "Spec", "SpecError", "load", "parse"]
from .version import __version__ as __version__  # a constant only: no window for a signal

# The public names load on first use (PEP 562), so that `python -m stackspec` runs no code of
# ours before __main__ installs its signal handlers: importing the compiler takes long enough
# for a Ctrl-C to land in it.
_HOMES = {
    "Callback": "training.callbacks",
    "Checkpoint": "training.checkpoints",
    "Diagnostic": "diagnostics",
    "SpecError": "diagnostics",
    "Spec": "spec",
    "load": "spec",
    "parse": "spec",
}

TYPE_CHECKING = False  # not typing's: importing typing alone is a window of its own
if TYPE_CHECKING:
    from .diagnostics import Diagnostic, SpecError
    from .spec import Spec, load, parse
    from .training.callbacks import Callback
    from .training.checkpoints import Checkpoint


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'stackspec' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])
