"""What `stackspec evaluate` reports: the loss, the spec's metrics and, for a classifier (bce,
crossentropy), the confusion matrix; as lines of text, as one JSON object (`--json`,
evaluation.json) and as confusion.png.

The confusion matrix counts examples by true class (rows) and predicted class (columns), the
decisions of metrics.py: argmax for crossentropy, probability > 0.5 for bce (every output of a
multi-label model counted on its own). Classes are named by the data section's labels when the
weights carry them, else 0..K-1 (bce: 0 and 1).
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass

import numpy as np

from ..compiler.settings import CLASSIFIERS
from ..diagnostics import printable
from . import metrics as metric_fns


def predict_raw(model, X: np.ndarray, batch: int) -> np.ndarray:
    """Raw outputs in evaluation mode, batch by batch (slices are views, not copies)."""
    out = np.empty((len(X), *model.ir.output_shape), dtype=np.float32)
    # Extreme inputs or weights overflow float32: the result holds inf or nan, which the caller
    # reports (the CLI as one warning line), not a RuntimeWarning per operation.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for start in range(0, len(X), batch):
            out[start : start + batch] = model._predict_batch(X[start : start + batch])
    return out


def evaluate_arrays(
    model, X, y, loss: dict, names: list[str], batch: int, top_k: int | None = None
) -> dict[str, float]:
    """{"loss": ..., NAME: ...} over the whole set, in evaluation mode."""
    return metric_fns.scores(predict_raw(model, X, batch), y, loss, names, top_k)


@dataclass(frozen=True)
class Evaluation:
    scores: dict[str, float]  # loss, then each metric of the spec
    confusion: np.ndarray | None  # int (K, K) for a classifier
    labels: list[str] | None  # the data section's label names, when the weights carry them
    undefined: dict[str, str]  # metric -> why it is nan on this data (not an overflow)

    @property
    def classes(self) -> list[str]:
        """The names of the confusion matrix's rows and columns."""
        if self.labels is not None:
            return self.labels
        return [str(i) for i in range(len(self.confusion))]


def evaluate(model, X, y, batch: int | None = None) -> Evaluation:
    """The evaluation of `model` on checked arrays, in evaluation mode."""
    from .arrays import as_arrays

    X, y = as_arrays(model.ir, X, y)
    train = model.ir.train
    out = predict_raw(model, X, batch or train["batch"])
    loss = train["loss"]["name"]
    scores = metric_fns.scores(out, y, train["loss"], train["metrics"], train.get("top_k"))
    undefined = {
        name: why
        for name, value in scores.items()
        if math.isnan(value) and (why := metric_fns.undefined(name, y, loss))
    }
    if loss not in CLASSIFIERS:
        return Evaluation(scores, None, None, undefined)
    matrix = metric_fns.confusion(out, y, loss)
    labels = (model.encoding or {}).get("labels")
    if labels is not None and len(labels) != len(matrix):
        labels = None
    return Evaluation(scores, matrix, labels, undefined)


def to_text(ev: Evaluation) -> str:
    """`NAME: VALUE` lines, then the confusion matrix of a classifier."""
    lines = [f"{name}: {value:.6g}" for name, value in ev.scores.items()]
    if ev.confusion is not None:
        lines += ["", "confusion matrix (rows: true class, columns: predicted class):"]
        lines += confusion_table(ev.confusion, ev.classes)
    return "\n".join(lines) + "\n"


def confusion_table(matrix: np.ndarray, classes: list[str]) -> list[str]:
    """Right-aligned columns; the corner says which way is which."""
    names = [printable(c) for c in classes]
    corner = "true\\pred"
    head = max(len(corner), *map(len, names))
    width = max(*map(len, names), len(str(int(matrix.max(initial=0)))))
    rows = [corner.ljust(head) + "".join(f"  {n:>{width}}" for n in names)]
    for name, row in zip(names, matrix.tolist(), strict=True):
        rows.append(name.ljust(head) + "".join(f"  {v:>{width}}" for v in row))
    return rows


def to_json(ev: Evaluation) -> str:
    """One JSON object: loss and metrics (a non-finite value is null), `confusion` for a
    classifier, `labels` when a data section named the classes."""
    doc: dict = {k: (v if math.isfinite(v) else None) for k, v in ev.scores.items()}
    if ev.confusion is not None:
        doc["confusion"] = ev.confusion.tolist()
        if ev.labels is not None:
            doc["labels"] = list(ev.labels)
    return json.dumps(doc, allow_nan=False)


def render_confusion_png(ev: Evaluation, title: str) -> bytes:
    """The confusion matrix as a heat map with the count in each cell (up to 30 classes)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from .curves import plain

    matrix, classes = ev.confusion, [plain(c) for c in ev.classes]
    k = len(matrix)
    side = min(max(4.5, 0.45 * k + 2.5), 20)
    fig = Figure(figsize=(side + 1, side), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = ax.imshow(matrix, cmap="Blues", vmin=0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    if k <= 30:
        high = matrix.max(initial=0) / 2
        for (i, j), count in np.ndenumerate(matrix):
            color = "white" if count > high else "black"
            ax.text(j, i, str(count), ha="center", va="center", color=color, fontsize=9)
    ax.set_xticks(range(k), classes, rotation=45 if max(map(len, classes)) > 3 else 0)
    ax.set_yticks(range(k), classes)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(plain(title))
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
