"""The model API of LANGUAGE.md §10, shared by every backend.

`Model` holds everything that is not tensor code: fit (via fit.py), predict, evaluate, save and
load. A backend subclasses it and implements the five abstract methods below; nothing else.
Data crosses the boundary as float32 NumPy arrays, so batching, batch order, history, early
stopping, NaN handling and files behave identically in both backends.
"""

from __future__ import annotations

import numpy as np


class Model:
    """Mixin: subclasses set `self.spec` (a stackspec.Spec) and implement the tensor code."""

    backend: str = "?"

    @property
    def ir(self):
        return self.spec.ir

    # --- tensor code, supplied by each backend --------------------------------------------

    def _predict_batch(self, x: np.ndarray) -> np.ndarray:
        """Evaluation mode: float32 (N, *input_shape) -> float32 (N, *output_shape), raw outputs
        (logits for bce/crossentropy). Never updates running statistics."""
        raise NotImplementedError

    def _begin_training(self, train: dict) -> None:
        """Prepare a training run from the resolved train settings (the IR's `train` dict with
        overrides applied): build the optimizer for train["optimizer"] (fresh state), the loss for
        train["loss"], and seed the dropout RNG from train["seed"]."""
        raise NotImplementedError

    def _train_step(self, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        """One step in training mode on a batch: forward, loss (mean over the batch), backward,
        optimizer update, batchnorm running statistics. Returns (loss, float32 outputs).
        y is float32 for mse/mae/huber/bce and int64 class labels for crossentropy."""
        raise NotImplementedError

    def get_weights(self) -> dict[str, np.ndarray]:
        """Every tensor of the weight file (`ir.tensors()` keys, running statistics included) as
        float32 NumPy copies in §8 layouts."""
        raise NotImplementedError

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        """Replace every tensor; `weights` has exactly the `ir.tensors()` keys and shapes."""
        raise NotImplementedError
