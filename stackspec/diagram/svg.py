"""The drawing as SVG text, written directly: the same bytes for the same spec on every machine
(no dates, ids or hashes), so a golden file can pin it, and no Graphviz or matplotlib needed."""

from __future__ import annotations

from html import escape

from .layout import FONT, SMALL, Drawing, Join, Path, Rect, Text

STYLE = f"""
text {{ font-family: 'DejaVu Sans Mono', Menlo, Consolas, monospace; fill: #1f2328; }}
.title {{ font-size: {FONT + 2}px; font-weight: bold; }}
.call {{ font-size: {FONT}px; font-weight: bold; }}
.detail, .label, .total {{ font-size: {SMALL}px; fill: #57606a; }}
.total {{ fill: #1f2328; }}
.id {{ font-size: {SMALL - 1}px; fill: #8c959f; }}
.input {{ fill: #eaeef2; stroke: #57606a; }}
.layer, .stack {{ fill: #ddf4ff; stroke: #0969da; }}
.card {{ fill: #ffffff; stroke: #0969da; }}
.block {{ fill: #fff8c5; fill-opacity: 0.45; stroke: #9a6700; stroke-dasharray: 5 3; }}
.repeat {{ fill: #fbefff; fill-opacity: 0.45; stroke: #8250df; stroke-dasharray: 5 3; }}
.residual {{ fill: #dafbe1; fill-opacity: 0.45; stroke: #1a7f37; stroke-dasharray: 5 3; }}
.flow {{ stroke: #57606a; fill: none; }}
.skip {{ stroke: #1a7f37; fill: none; stroke-width: 1.5; }}
.copy {{ stroke: #8250df; fill: none; stroke-dasharray: 2 3; }}
.join {{ fill: #ffffff; stroke: #1a7f37; stroke-width: 1.5; }}
.split {{ fill: #1a7f37; }}
"""

ARROW = (
    '<marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
    'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{}"/>'
    "</marker>"
)
RADIUS = {"input": 15, "layer": 6, "stack": 6, "card": 6}


def _shape(s) -> str:
    if isinstance(s, Rect):
        r = RADIUS.get(s.kind, 8)
        return f'<rect class="{s.kind}" x="{s.x}" y="{s.y}" width="{s.w}" height="{s.h}" rx="{r}"/>'
    if isinstance(s, Text):
        return (
            f'<text class="{s.kind}" x="{s.x}" y="{s.y}" text-anchor="{s.anchor}">'
            f"{escape(s.text, quote=False)}</text>"
        )
    if isinstance(s, Path):
        d = " ".join(f"{'M' if i == 0 else 'L'}{x},{y}" for i, (x, y) in enumerate(s.points))
        end = f' marker-end="url(#arrow-{s.kind})"' if s.arrow else ""
        return f'<path class="{s.kind}" d="{d}"{end}/>'
    if isinstance(s, Join):
        if s.r == 0:
            return f'<circle class="split" cx="{s.x}" cy="{s.y}" r="3"/>'
        r, x, y = s.r, s.x, s.y
        plus = f"M{x - r + 3},{y} L{x + r - 3},{y} M{x},{y - r + 3} L{x},{y + r - 3}"
        return f'<circle class="join" cx="{x}" cy="{y}" r="{r}"/><path class="skip" d="{plus}"/>'
    raise AssertionError(f"no SVG for {s!r}")


def render_svg(drawing: Drawing) -> bytes:
    w, h = drawing.width, drawing.height
    markers = "".join(
        ARROW.format(color).replace('id="arrow"', f'id="arrow-{kind}"')
        for kind, color in (("flow", "#57606a"), ("skip", "#1a7f37"))
    )
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}">',
        f"<style>{STYLE}</style>",
        f"<defs>{markers}</defs>",
        f'<rect width="{w}" height="{h}" fill="#ffffff"/>',
        *(_shape(s) for s in drawing.shapes),
        "</svg>",
    ]
    return ("\n".join(lines) + "\n").encode("utf-8")
