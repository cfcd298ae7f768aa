"""Class and sample weights (LANGUAGE.md §12): one weight per training example, as Keras forms it.

The training loop multiplies each example's loss by its weight and divides the batch's sum by
the batch size (numerics.loss_and_grad; Keras's "sum_over_batch_size"). The weight of an example
is its class's weight (`class_weight`, crossentropy and bce) times its own sample weight (a data
column or `fit(sample_weight=...)`), either being 1 when not given. Weights shape the training
loss only: the validation loss and every metric stay unweighted (Keras's `metrics`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..compiler.settings import CLASS_LOSSES, class_count
from ..diagnostics import UserError


class WeightError(UserError, ValueError):
    """Class or sample weights that cannot be used: a ValueError for the API."""


def check_sample_weight(sample_weight, n: int) -> np.ndarray:
    """`fit(sample_weight=...)` as float32 (N,): one finite weight >= 0 per example."""
    try:
        w = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError):
        raise WeightError("sample_weight must be an array of numbers, one per example") from None
    if w.ndim == 2 and w.shape[1] == 1:
        w = w.reshape(-1)
    if w.ndim != 1 or len(w) != n:
        raise WeightError(
            f"sample_weight has shape {w.shape}, expected ({n},): one weight per example of X"
        )
    if not np.isfinite(w).all():
        raise WeightError("sample_weight holds NaN or infinite values")
    if (w < 0).any():
        i = int(np.flatnonzero(w < 0)[0])
        raise WeightError(f"sample_weight[{i}] is {w[i]!r}; weights must be >= 0")
    return w.astype(np.float32)


def example_classes(loss: str, y: np.ndarray) -> np.ndarray:
    """Each example's class: crossentropy's label, bce's target rounded to 0 or 1 (as Keras
    rounds it; a soft target of exactly 0.5 is class 0)."""
    if loss == "crossentropy":
        return np.asarray(y, dtype=np.intp).reshape(-1)
    return np.round(np.asarray(y, dtype=np.float64)).astype(np.intp).reshape(-1)


def balanced(classes: np.ndarray, count: int, log: Callable[[str], None]) -> np.ndarray:
    """n_samples / (n_classes * count(class)), n_classes the classes present: scikit-learn's
    "balanced" recipe, which keeps the mean weight of the training examples at 1. A class with
    no training example gets 0 (no example uses it), with a warning line."""
    counts = np.bincount(classes, minlength=count)
    present = counts > 0
    weights = np.zeros(count)
    weights[present] = len(classes) / (present.sum() * counts[present])
    absent = np.flatnonzero(~present)
    if len(absent):
        listed = ", ".join(map(str, absent[:10])) + (", ..." if len(absent) > 10 else "")
        log(f"warning: class_weight balanced: no training example of class {listed}")
    return weights


def _given_weights(class_weight, count: int) -> np.ndarray:
    """A list (one weight per class) or Keras's dict {class: weight} (absent classes: 1)."""
    if isinstance(class_weight, dict):
        weights = np.ones(count)
        for key, value in class_weight.items():
            if isinstance(key, bool) or not isinstance(key, (int, np.integer)):
                raise WeightError(f"class_weight: class {key!r} is not an integer class index")
            if not 0 <= key < count:
                raise WeightError(f"class_weight: class {key} is not in [0, {count})")
            weights[int(key)] = _weight(value)
        return weights
    if isinstance(class_weight, str) or not hasattr(class_weight, "__len__"):
        raise WeightError(
            f"class_weight must be 'balanced', a list or a dict {{class: weight}}, "
            f"got {class_weight!r}"
        )
    if len(class_weight) != count:
        raise WeightError(
            f"class_weight lists {len(class_weight)} weights for {count} classes; give one "
            "per class"
        )
    weights = np.array([_weight(v) for v in class_weight])
    if not weights.any():
        raise WeightError("class_weight: every weight is 0")
    return weights


def _weight(value) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise WeightError(f"class_weight: weight {value!r} is not a number") from None
    if isinstance(value, bool) or not (math.isfinite(number) and number >= 0):
        raise WeightError(f"class_weight: weight {value!r} must be a finite number >= 0")
    return number


def class_weights(ir, class_weight, y: np.ndarray, log) -> np.ndarray:
    """One weight per class (float64), from the spec's or fit's class_weight."""
    loss = ir.train["loss"]["name"]
    if loss not in CLASS_LOSSES:
        raise WeightError(f"class_weight needs loss crossentropy or bce, not {loss}")
    count = class_count(loss, tuple(ir.output_shape))
    if count is None:
        raise WeightError(
            f"class_weight needs one class per example; {loss} on this output has none"
        )
    if isinstance(class_weight, str) and class_weight == "balanced":
        return balanced(example_classes(loss, y), count, log)
    return _given_weights(class_weight, count)


def example_weights(ir, class_weight, y, sample_weight, log) -> np.ndarray | None:
    """float32 (N,) weights of the training examples, None when neither kind is given (the
    loop then trains unweighted, as fast as ever). Both given: they multiply (Keras)."""
    w = None if sample_weight is None else check_sample_weight(sample_weight, len(y))
    if class_weight is None:
        return w
    per_class = class_weights(ir, class_weight, y, log)
    by_class = per_class[example_classes(ir.train["loss"]["name"], y)].astype(np.float32)
    return by_class if w is None else by_class * w
