"""`stackspec draw`: a picture of a spec's model, top to bottom (docs/export.md, "Diagram").

compiler/groups.py recovers the repeats and block calls that the IR expands; layout.py places
the parts as plain shapes; svg.py writes them as SVG text, png.py draws them with matplotlib.
"""

from __future__ import annotations

FORMATS = ("svg", "png")


def draw(spec, fmt: str = "svg", expand: bool = False, overrides=None, limits=None) -> bytes:
    """The diagram of a Spec as SVG or PNG bytes. `overrides` and `limits` must be those the
    spec was loaded with (its `--set` values, its §7 limits)."""
    from ..compiler.groups import parts
    from ..diagnostics import printable
    from ..limits import DEFAULT
    from .layout import layout

    if fmt not in FORMATS:
        raise ValueError(f"unknown diagram format {fmt!r}; expected one of {FORMATS}")
    grouped = parts(spec.program, spec.ir, overrides, limits or DEFAULT)
    drawing = layout(spec.ir, grouped, printable(spec.file), expand)
    if fmt == "svg":
        from .svg import render_svg

        return render_svg(drawing)
    from .png import render_png

    return render_png(drawing)
