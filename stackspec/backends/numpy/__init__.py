"""The NumPy backend: hand-written forward and backward passes, float32 throughout.

layers.py, conv.py and activations.py hold one function per registry key (dispatch by name
through `LAYERS`); losses.py and optimizers.py the training rules; model.py the NumpyModel.
"""

from __future__ import annotations

from .layers import LAYERS
from .model import NumpyModel

__all__ = ["LAYERS", "NumpyModel"]
