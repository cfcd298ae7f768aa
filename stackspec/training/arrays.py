"""Arrays given to the Python API (`model.fit(X, y)`, `predict`, `evaluate`), checked and
converted by the rules of a CSV's values (data.py): X float32 shaped as the input, a flat
(N, C*H*W) X reshaped row-major; y float32, or int64 class labels for crossentropy. Problems are
E5xx diagnostics of the file name given (`<X, y>`, `<validation_data>`)."""

from __future__ import annotations

import math

import numpy as np

from ..diagnostics import Diagnostics, array_shape, example_shape
from .ids import check_arrays as check_ids


def as_arrays(ir, X, y=None, file: str = "<arrays>") -> tuple[np.ndarray, np.ndarray | None]:
    """(X, y) checked against the spec, as contiguous arrays; y stays None if not given."""
    d = Diagnostics(file)
    X = _features(ir, X, d)
    d.raise_if_errors()
    if y is None:
        return np.ascontiguousarray(X), None
    y = (
        _labels(ir, np.asarray(y), d)
        if ir.train["loss"]["name"] == "crossentropy"
        else _targets(ir, np.asarray(y), d)
    )
    if not d.has_errors and len(y) != len(X):
        d.error("E505", f"X has {len(X)} examples but y has {len(y)}")
    d.raise_if_errors()
    return np.ascontiguousarray(X), np.ascontiguousarray(y)


def _features(ir, X, d: Diagnostics) -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    need = math.prod(ir.input)
    if X.ndim == 2 and X.shape[1] == need and len(ir.input) > 1:
        X = X.reshape(len(X), *ir.input)
    if X.ndim == 1 and ir.input == (1,):
        X = X.reshape(-1, 1)
    if X.shape[1:] != tuple(ir.input):
        expected = array_shape(("N", *ir.input))
        d.error("E509", f"X has shape {array_shape(X.shape)}, expected {expected}")
    elif len(X) == 0:
        d.error("E502", "X has no examples")
    elif not np.isfinite(X).all():
        d.error("E508", "X holds NaN or infinite values")
    else:
        check_ids(ir, X, d)  # an embedding's input (E515)
    return X


def _labels(ir, y: np.ndarray, d: Diagnostics) -> np.ndarray:
    """crossentropy's class labels: whole numbers in [0, classes), as int64 (N,)."""
    yf = y.astype(np.float64)
    if y.ndim == 2 and y.shape[1] == 1:
        yf = yf.reshape(-1)
    classes = ir.output_shape[-1]
    if yf.ndim != 1:
        message = f"y has shape {array_shape(y.shape)}; crossentropy needs (N,) class labels"
        d.error("E510", message)
    elif not (np.isfinite(yf).all() and (yf == np.round(yf)).all()):
        d.error("E510", "crossentropy labels must be whole numbers")
    elif len(yf) and (yf.min() < 0 or yf.max() >= classes):
        d.error("E510", f"crossentropy labels must be in [0, {classes})")
    else:
        return yf.astype(np.int64)
    return y


def _targets(ir, y: np.ndarray, d: Diagnostics) -> np.ndarray:
    """Targets of every other loss: float32 shaped as the output ((N,) for a single output)."""
    out = tuple(ir.output_shape)
    y = y.astype(np.float32)
    if out == (1,) and y.ndim == 2 and y.shape[1] == 1:
        y = y.reshape(-1)
    if not (y.shape[1:] == out or (out == (1,) and y.ndim == 1)):
        message = f"y has shape {array_shape(y.shape)}; the spec's output is {example_shape(out)}"
        d.error("E511", message)
    if not np.isfinite(y).all():
        d.error("E508", "y holds NaN or infinite values")
    return y
