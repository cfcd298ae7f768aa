"""The NumPy backend: hand-written forward and backward passes, float32 throughout.

inference.py holds one pure evaluation function per registry key (the emitted source copies
them); layers.py and conv.py the training layers, named as the keys (dispatch by name through
`LAYERS`), activations.py their backprop rules; optimizers.py the update rules; model.py the
NumpyModel. The losses live in stackspec/numerics.py, which the backend-neutral evaluation
shares.
"""

from __future__ import annotations

from .layers import LAYERS
from .model import NumpyModel

__all__ = ["LAYERS", "NumpyModel"]
