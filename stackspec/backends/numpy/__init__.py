"""The NumPy backend: hand-written forward and backward passes, float32 throughout.

layers.py, conv.py and activations.py hold one function per registry key (dispatch by name
through `LAYERS`); optimizers.py the update rules; model.py the NumpyModel. The losses live in
stackspec/numerics.py, which the backend-neutral evaluation shares.
"""

from __future__ import annotations

from .layers import LAYERS
from .model import NumpyModel

__all__ = ["LAYERS", "NumpyModel"]
