"""Metrics of the train section (`metrics mae rmse f1 top_k_accuracy k=3`), computed from raw
model outputs over a whole set: the validation set, the evaluated file, or all the training
steps' outputs of an epoch (fit.py). None of them is a mean of batch values.

Every metric takes the raw outputs of the model (`Model._predict_batch`: logits for bce and
crossentropy, also when the model ends in the sigmoid/softmax that the loss takes over, so both
forms give the same metrics), the targets and the loss name, and returns a Python float.
Which losses each metric fits is compiler/settings.py's METRICS.

What each metric compares:
- regression losses (mse, mae, huber): the outputs themselves;
- bce: the predicted probability sigmoid(logit) against the 0/1 target; the decision is
  logit > 0 (probability > 0.5) and the true class is target > 0.5. With several outputs
  (multi-label), every output's decision counts on its own (pooled, "micro");
- crossentropy: the softmax probabilities against the one-hot label (mse is then the Brier score);
  the decision is the argmax of the logits (the first on a tie).

- mae, mse: the mean absolute / squared difference over every value.
- rmse: sqrt(mse) over the whole set (regression losses).
- r2: 1 - SS_res / SS_tot per output column, SS_tot about the column's mean, then the mean over
  the columns (sklearn's r2_score, uniform_average). A constant target column scores 1.0 when
  predicted exactly, else 0.0 (sklearn's force_finite). Regression losses.
- accuracy: crossentropy: argmax = label; bce: decision = true class; regression: the prediction
  rounded to the nearest integer (halves to even, numpy's rint) equals the target, which suits
  integer scores such as the wine quality.
- precision, recall, f1: bce: of class 1 (binary); crossentropy: the unweighted mean over the
  classes that occur among the targets or the decisions (sklearn's average="macro" with its
  default labels). A ratio with nothing to count (no decision for a class, or no example of it)
  is 0, sklearn's zero_division=0; f1 = 2·tp / (2·tp + fp + fn).
- auc: bce only; the exact area under the ROC curve, ranking the logits: the probability that a
  positive example scores above a negative one, ties counting half (Mann-Whitney U / (n1·n0)).
  Undefined (nan, `undefined` says why) when the targets hold a single class.
- top_k_accuracy: crossentropy only; the label is among the k classes with the largest logits,
  a class tied with the k-th counting as inside (tf.math.in_top_k); k >= the number of classes
  gives 1.0.
"""

from __future__ import annotations

import math

import numpy as np

from ..compiler.settings import METRICS as FITS
from ..compiler.settings import TOP_K, loss_mismatch
from ..numerics import aligned_shape, loss_value, sigmoid_values, softmax_values


def _compared(out: np.ndarray, y: np.ndarray, loss: str) -> tuple[np.ndarray, np.ndarray]:
    """(prediction, target) as the error metrics compare them (see the module docstring)."""
    if loss == "crossentropy":
        onehot = np.zeros(out.shape, dtype=out.dtype)
        onehot[np.arange(len(y)), y] = 1
        return softmax_values(out), onehot
    out = out.reshape(aligned_shape(out.shape, y.shape, loss))
    return (sigmoid_values(out) if loss == "bce" else out), y


def _decisions(out: np.ndarray, y: np.ndarray, loss: str) -> tuple[np.ndarray, np.ndarray]:
    """(predicted class, true class) as flat int arrays: argmax for crossentropy, the
    thresholded logit and target for bce (every output of a multi-label model on its own)."""
    if loss == "crossentropy":
        return out.argmax(axis=-1).reshape(-1), np.asarray(y, np.int64).reshape(-1)
    out = out.reshape(aligned_shape(out.shape, y.shape, loss))
    return (out > 0).reshape(-1).astype(np.int64), (y > 0.5).reshape(-1).astype(np.int64)


def mae(out: np.ndarray, y: np.ndarray, loss: str) -> float:
    p, t = _compared(out, y, loss)
    return float(np.mean(np.abs(p - t)))


def mse(out: np.ndarray, y: np.ndarray, loss: str) -> float:
    p, t = _compared(out, y, loss)
    return float(np.mean(np.square(p - t)))


def rmse(out: np.ndarray, y: np.ndarray, loss: str) -> float:
    return math.sqrt(mse(out, y, loss))


def r2(out: np.ndarray, y: np.ndarray, loss: str) -> float:
    p, t = _compared(out, y, loss)
    p = p.reshape(len(p), -1).astype(np.float64)
    t = t.reshape(len(t), -1).astype(np.float64)
    ss_res = np.sum(np.square(t - p), axis=0)
    ss_tot = np.sum(np.square(t - t.mean(axis=0)), axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = 1 - ss_res / ss_tot
    constant = ss_tot == 0  # sklearn's force_finite: exact 1.0, anything else 0.0
    scores[constant] = np.where(ss_res[constant] == 0, 1.0, 0.0)
    return float(np.mean(scores))


def accuracy(out: np.ndarray, y: np.ndarray, loss: str) -> float:
    if loss in ("crossentropy", "bce"):
        pred, true = _decisions(out, y, loss)
        return float(np.mean(pred == true))
    out = out.reshape(aligned_shape(out.shape, y.shape, loss))
    return float(np.mean(np.rint(out) == y))


def confusion(out: np.ndarray, y: np.ndarray, loss: str) -> np.ndarray:
    """int64 (K, K) counts, rows the true class, columns the predicted one; K is the number of
    outputs for crossentropy, 2 for bce."""
    k = out.shape[-1] if loss == "crossentropy" else 2
    pred, true = _decisions(out, y, loss)
    return np.bincount(true * k + pred, minlength=k * k).reshape(k, k)


def _counts(out, y, loss) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(tp, fp, fn) per class averaged over: class 1 for bce; for crossentropy the classes
    among the targets or the decisions."""
    m = confusion(out, y, loss)
    tp = np.diag(m).astype(np.float64)
    fp, fn = m.sum(axis=0) - tp, m.sum(axis=1) - tp
    if loss == "bce":
        keep = np.array([False, True])
    else:
        keep = (m.sum(axis=0) + m.sum(axis=1)) > 0
    return tp[keep], fp[keep], fn[keep]


def _ratio(num: np.ndarray, den: np.ndarray) -> float:
    """The mean of num/den, a 0/0 counting 0 (zero_division=0); nan for no class at all."""
    if len(num) == 0:
        return math.nan
    return float(np.mean(np.divide(num, den, out=np.zeros_like(num), where=den > 0)))


def precision(out: np.ndarray, y: np.ndarray, loss: str) -> float:
    tp, fp, _ = _counts(out, y, loss)
    return _ratio(tp, tp + fp)


def recall(out: np.ndarray, y: np.ndarray, loss: str) -> float:
    tp, _, fn = _counts(out, y, loss)
    return _ratio(tp, tp + fn)


def f1(out: np.ndarray, y: np.ndarray, loss: str) -> float:
    tp, fp, fn = _counts(out, y, loss)
    return _ratio(2 * tp, 2 * tp + fp + fn)


def auc(out: np.ndarray, y: np.ndarray, loss: str) -> float:
    scores = out.reshape(aligned_shape(out.shape, y.shape, loss)).reshape(-1).astype(np.float64)
    positive = (y > 0.5).reshape(-1)
    n1 = int(positive.sum())
    n0 = len(positive) - n1
    if n1 == 0 or n0 == 0:
        return math.nan
    order = np.argsort(scores, kind="stable")
    ranks = np.empty(len(scores), dtype=np.float64)
    ordered = scores[order]
    # Tied scores share the mean of their 1-based ranks: a tie counts half.
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], len(ordered)]
    ranks[order] = np.repeat((starts + ends + 1) / 2, ends - starts)
    u = ranks[positive].sum() - n1 * (n1 + 1) / 2
    return float(u / (n1 * n0))


def top_k_accuracy(out: np.ndarray, y: np.ndarray, loss: str, k: int = TOP_K.default) -> float:
    flat = out.reshape(len(out), -1)
    true = flat[np.arange(len(flat)), np.asarray(y, np.int64)]
    above = np.sum(flat > true[:, None], axis=1)  # classes strictly likelier than the label
    return float(np.mean(above < k))


METRICS = {
    "mae": mae,
    "mse": mse,
    "rmse": rmse,
    "r2": r2,
    "accuracy": accuracy,
    "precision": precision,
    "recall": recall,
    "f1": f1,
    "auc": auc,
    "top_k_accuracy": top_k_accuracy,
}


def compute(
    names: list[str], out: np.ndarray, y: np.ndarray, loss: str, top_k: int | None = None
) -> dict[str, float]:
    """Every named metric over the whole of `out` and `y`; `top_k` is top_k_accuracy's k."""
    if len(out) == 0:
        return dict.fromkeys(names, math.nan)
    k = TOP_K.default if top_k is None else top_k
    top = {"top_k_accuracy": lambda out, y, loss: top_k_accuracy(out, y, loss, k)}
    return {name: top.get(name, METRICS[name])(out, y, loss) for name in names}


def scores(out, y, loss: dict, names: list[str], top_k: int | None = None) -> dict[str, float]:
    """{"loss": ..., NAME: ...} of raw outputs against their targets; overflow in the outputs
    gives inf or nan, which the caller reports."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return {
            "loss": float(loss_value(loss, out, y)),
            **compute(names, out, y, loss["name"], top_k),
        }


def undefined(name: str, y: np.ndarray, loss: str) -> str | None:
    """Why a metric is nan on these targets for a reason of the data, not of the numbers."""
    if name == "auc" and loss == "bce":
        present = np.unique((np.asarray(y) > 0.5).astype(int)).tolist()
        if len(present) < 2:
            return f"auc is undefined: every target is class {present[0]}" if present else None
    return None


def resolve(entries, loss: str, top_k: int | None) -> tuple[list[str], int | None]:
    """fit(metrics=[...]): names, or {"name": "top_k_accuracy", "k": 3}, checked as the spec's
    are; returns (names, top_k). A ValueError says what is wrong."""
    names: list[str] = []
    for entry in entries:
        name = entry.get("name") if isinstance(entry, dict) else entry
        if not isinstance(name, str) or name not in FITS:
            raise ValueError(f"unknown metric {name!r}; valid: {', '.join(FITS)}")
        if name in names:
            raise ValueError(f"metric {name!r} given twice")
        problem = loss_mismatch(name, loss)
        if problem:
            raise ValueError(problem)
        extra = set(entry) - {"name"} if isinstance(entry, dict) else set()
        if extra - ({"k"} if name == "top_k_accuracy" else set()):
            raise ValueError(f"metric {name!r} takes no {sorted(extra)[0]!r}")
        if isinstance(entry, dict) and "k" in entry:
            k = entry["k"]
            if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
                raise ValueError(f"top_k_accuracy: k must be an integer >= 1, got {k!r}")
            top_k = int(k)
        names.append(name)
    return names, (top_k or TOP_K.default) if "top_k_accuracy" in names else None
