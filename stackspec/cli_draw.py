"""`stackspec draw`: the model's diagram as SVG or PNG, the format named by -o's extension
(docs/export.md, "Diagram"); the drawing itself is stackspec/diagram's."""

from __future__ import annotations

import os

import click

from .cli_model import load_spec
from .cli_options import INPUT, current_limits, parse_sets, spec_options
from .diagnostics import printable


def diagram_format(output: str | None) -> str:
    """svg or png from -o's extension; SVG text for stdout. Another extension is a usage
    error, before any work."""
    if output in (None, "-"):
        return "svg"
    ext = os.path.splitext(output)[1].lower()
    if ext not in (".svg", ".png"):
        shown = f"'{printable(ext)}'" if ext else "no extension"
        raise click.UsageError(f"-o {printable(output)}: {shown}; the diagram is .svg or .png")
    return ext[1:]


@click.command()
@click.argument("spec", type=INPUT)
@click.option(
    "-o", "--output", type=click.Path(), help="FILE.svg or FILE.png [default: SVG on stdout]."
)
@click.option("--expand", is_flag=True, help="Draw every layer; repeats are not collapsed.")
@spec_options
def draw(spec, output, expand, sets):
    """Draw the model top to bottom: a box per layer with its call, output shape and parameter
    count; blocks, repeats and residuals framed; totals at the bottom."""
    from .diagram import draw as render
    from .files import plan_output, write_output

    fmt = diagram_format(output)
    out = plan_output("-" if output is None else output, [("the spec", spec)])
    s = load_spec(spec, sets)
    data = render(s, fmt, expand, parse_sets(sets), current_limits())
    write_output(out, data)
