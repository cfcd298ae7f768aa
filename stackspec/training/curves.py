"""curves.png: the learning curves (loss and val_loss per epoch), like the lesson's plot.

matplotlib is imported only here and only when a plot is made; the figure is drawn with the Agg
canvas directly (no pyplot), so a user's interactive backend and global state are untouched.
"""

from __future__ import annotations

import io
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


def render_png(history: dict, title: str = "Learning curves", loss_name: str = "loss") -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    epochs = list(range(1, len(history.get("loss", [])) + 1))
    ax.plot(epochs, history.get("loss", []), label="loss (training)", color="tab:blue")
    val = history.get("val_loss")
    if val:
        ax.plot(epochs, val, label="val_loss (validation)", color="tab:orange")
        best = min(range(len(val)), key=val.__getitem__)
        ax.axvline(best + 1, color="gray", linestyle=":", linewidth=1)
        ax.annotate(
            f"best {val[best]:.4g} (epoch {best + 1})",
            (best + 1, val[best]),
            textcoords="offset points",
            xytext=(-4, 8) if best + 1 > len(val) / 2 else (4, 8),
            ha="right" if best + 1 > len(val) / 2 else "left",
            fontsize=8,
            color="gray",
        )
    if not epochs:
        ax.text(0.5, 0.5, "no epoch finished", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("epoch")
    ax.set_ylabel(plain(loss_name))
    ax.set_title(plain(title))
    ax.grid(True, alpha=0.3)
    if epochs:
        ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def plot_curves(history: dict, path: str | Path, title: str = "Learning curves", loss_name="loss"):
    """Write the learning-curve plot atomically."""
    write_bytes(path, render_png(history, title, loss_name))
