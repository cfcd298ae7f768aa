"""The NumPy backend: hand-written forward and backward passes, float32 throughout.

Each registry key has a training function named as the key (dispatch by name through `LAYERS`)
and, next to it, a pure evaluation function `{key}_values` (`INFERENCE`; the emitted source
copies it): layers.py (dense, dropout, flatten, and the composition), conv.py (image layers),
norm.py (normalization), activations.py (activations and their backprop rules); optimizers.py
the update rules; model.py the NumpyModel. The losses and the stable sigmoid and softmax live
in stackspec/numerics.py, which the backend-neutral evaluation shares.
"""

from __future__ import annotations

from .layers import LAYERS
from .model import NumpyModel

__all__ = ["LAYERS", "NumpyModel"]
