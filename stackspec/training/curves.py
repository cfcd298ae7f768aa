"""curves.png: the learning curves, like the lesson's plot: loss and val_loss per epoch with the
best epoch marked, each metric (NAME and val_NAME) in its own panel beside it, and the learning
rate (`lr`) in a panel of its own when it changes (a schedule; a constant lr is said in the
title instead of a flat line). Epoch ticks are integers; a panel
whose values span more than 100x (a loss far above its validation loss, say) is drawn on a log
scale, as is a learning rate that changes.

matplotlib is imported only here and only when a plot is made; the figure is drawn with the Agg
canvas directly (no pyplot), so a user's interactive backend and global state are untouched.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

from ..diagnostics import printable
from ..files import write_bytes


def plain(text: str) -> str:
    """`text` as matplotlib draws it literally: a file name's undecodable bytes (surrogate
    escapes, which the font code rejects) become U+FFFD, control characters escapes, and `$`
    is no mathtext delimiter (`a$b.stack` would be parsed as math, or fail to be)."""
    try:
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # a lone surrogate that is no escaped byte
        text = text.encode("utf-8", "replace").decode("utf-8")
    return printable(text).replace("$", r"\$")


def panels(history: dict) -> list[tuple[str, list[str]]]:
    """(title, keys) per panel: the loss beside each metric (NAME with val_NAME), lr last."""
    out = [("loss", [k for k in ("loss", "val_loss") if k in history])]
    for key in history:
        if key in ("loss", "val_loss", "lr") or key.startswith("val_"):
            continue
        out.append((key, [k for k in (key, f"val_{key}") if k in history]))
    lr = [v for v in history.get("lr", []) if v == v]  # nan is no value
    if len(set(lr)) > 1:
        out.append(("lr", ["lr"]))
    return out


def wide_range(values) -> bool:
    """A log scale is the readable one: all positive and spanning more than 100x."""
    values = [v for v in values if math.isfinite(v)]
    return bool(values) and min(values) > 0 and max(values) > 100 * min(values)


def render_png(history: dict, title: str = "Learning curves", loss_name: str = "loss") -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    shown = panels(history)
    cols = 2 if len(shown) == 4 else min(len(shown), 3)
    rows = math.ceil(len(shown) / cols)
    fig = Figure(figsize=(max(7.0, 4.2 * cols + 0.8), 3.4 * rows + 1.1), dpi=100)
    FigureCanvasAgg(fig)
    epochs = list(range(1, len(history.get("loss", [])) + 1))
    monitor = "val_loss" if history.get("val_loss") else "loss"
    values = history.get(monitor) or []
    best = min(range(len(values)), key=values.__getitem__) if values else None
    for n, (name, keys) in enumerate(shown):
        ax = fig.add_subplot(rows, cols, n + 1)
        for key, color in zip(keys, ("tab:blue", "tab:orange"), strict=False):
            label = (
                key if key == "lr" else f"{key} ({'validation' if 'val_' in key else 'training'})"
            )
            ax.plot(epochs, history[key], label=plain(label), color=color, marker=_dots(epochs))
        if best is not None and name == "loss":
            # A marker on the curve; its words in the legend, which matplotlib places where
            # the curves are not, so the annotation never covers them.
            ax.plot(
                [best + 1],
                [values[best]],
                linestyle="none",
                marker="*",
                markersize=12,
                color="tab:red",
                label=f"best {monitor} {values[best]:.4g} (epoch {best + 1})",
            )
        if best is not None:
            ax.axvline(best + 1, color="gray", linestyle=":", linewidth=1)
        scale = [v for k in keys for v in history[k]]
        if epochs and (wide_range(scale) if name != "lr" else _varies(scale)):
            ax.set_yscale("log")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(plain(loss_name if name == "loss" else name))
        ax.grid(True, alpha=0.3)
        if epochs:
            ax.legend(fontsize=8, loc="best")
        else:
            ax.text(0.5, 0.5, "no epoch finished", ha="center", va="center", transform=ax.transAxes)
    lr = {v for v in history.get("lr", []) if v == v}
    if len(lr) == 1:  # a constant learning rate has no panel; the title gives it
        title = f"{title}, lr {next(iter(lr)):g}"
    fig.suptitle(plain(title))
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _varies(values) -> bool:
    """A learning rate that changes (a schedule) is read on a log scale."""
    values = [v for v in values if math.isfinite(v)]
    return bool(values) and min(values) > 0 and max(values) > min(values)


def _dots(epochs) -> str | None:
    """With a few epochs, a dot per epoch shows where the values are."""
    return "." if len(epochs) <= 30 else None


def plot_curves(history: dict, path: str | Path, title: str = "Learning curves", loss_name="loss"):
    """Write the learning-curve plot atomically."""
    write_bytes(path, render_png(history, title, loss_name))
