"""The drawing as PNG, with matplotlib's Agg canvas (no pyplot: a user's interactive backend and
global state stay untouched), in the colours of svg.py. One drawing unit is one pixel at
SCALE = 1; the PNG is drawn at twice that for sharp text, less for a drawing too tall for Agg."""

from __future__ import annotations

import io

from ..diagnostics import UserError
from ..training.curves import plain
from .layout import FONT, SMALL, Drawing, Join, Path, Rect, Text

MAX_PIXELS = 32_000  # Agg refuses images past 2**16 pixels a side; stay well below it
SCALE = 2
FILL = {
    "input": ("#eaeef2", "#57606a"),
    "layer": ("#ddf4ff", "#0969da"),
    "stack": ("#ddf4ff", "#0969da"),
    "card": ("#ffffff", "#0969da"),
    "block": ("#fffbe6", "#9a6700"),
    "repeat": ("#fdf7ff", "#8250df"),
    "residual": ("#eefcf1", "#1a7f37"),
}
TEXT = {  # size px, weight, colour
    "title": (FONT + 2, "bold", "#1f2328"),
    "call": (FONT, "bold", "#1f2328"),
    "detail": (SMALL, "normal", "#57606a"),
    "label": (SMALL, "normal", "#57606a"),
    "total": (SMALL, "normal", "#1f2328"),
    "id": (SMALL - 1, "normal", "#8c959f"),
}
LINE = {"flow": ("#57606a", "-", 1.0), "skip": ("#1a7f37", "-", 1.5), "copy": ("#8250df", ":", 1.0)}
FRAMES = ("block", "repeat", "residual")


def render_png(drawing: Drawing) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch

    scale = min(SCALE, MAX_PIXELS / drawing.height)
    if drawing.height * scale < drawing.height / 4:  # text would be unreadable specks
        raise UserError(
            f"the diagram is {drawing.height:,} pixels tall, too tall for a PNG; write an .svg, "
            "or draw without --expand"
        )
    w, h = drawing.width, drawing.height
    fig = Figure(figsize=(w / 100, h / 100), dpi=100 * scale)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.axis("off")
    pt = 72 / 100  # a drawing pixel in points, at the figure's 100 units per inch
    for s in drawing.shapes:
        if isinstance(s, Rect):
            face, edge = FILL[s.kind]
            style = "round,pad=0,rounding_size=" + ("15" if s.kind == "input" else "6")
            ax.add_patch(
                FancyBboxPatch(
                    (s.x, s.y),
                    s.w,
                    s.h,
                    boxstyle=style,
                    facecolor=face,
                    edgecolor=edge,
                    linewidth=1,
                    linestyle="--" if s.kind in FRAMES else "-",
                )
            )
        elif isinstance(s, Text):
            size, weight, color = TEXT[s.kind]
            ax.text(
                s.x,
                s.y,
                plain(s.text),
                fontsize=size * pt,
                fontweight=weight,
                color=color,
                family="monospace",
                ha={"start": "left", "middle": "center", "end": "right"}[s.anchor],
                va="baseline",
            )
        elif isinstance(s, Path):
            color, style, width = LINE[s.kind]
            xs, ys = zip(*s.points, strict=True)
            if s.arrow:
                ax.plot(xs[:-1] + (xs[-1],), ys, color=color, linestyle=style, linewidth=width)
                ax.add_patch(
                    FancyArrowPatch(
                        s.points[-2],
                        s.points[-1],
                        arrowstyle="-|>",
                        mutation_scale=10,
                        color=color,
                        linewidth=width,
                        shrinkA=0,
                        shrinkB=0,
                    )
                )
            else:
                ax.plot(xs, ys, color=color, linestyle=style, linewidth=width)
        elif isinstance(s, Join):
            if s.r == 0:
                ax.add_patch(Circle((s.x, s.y), 3, color="#1a7f37"))
            else:
                ax.add_patch(Circle((s.x, s.y), s.r, facecolor="white", edgecolor="#1a7f37"))
                ax.plot([s.x - s.r + 3, s.x + s.r - 3], [s.y, s.y], color="#1a7f37")
                ax.plot([s.x, s.x], [s.y - s.r + 3, s.y + s.r - 3], color="#1a7f37")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100 * scale, metadata={"Software": None})
    return buf.getvalue()
