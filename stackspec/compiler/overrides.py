"""`--set NAME=VALUE`: overriding a spec's `let` constants from outside (LANGUAGE.md §9).

Every command that reads a spec accepts it, and so does the Python API (`overrides=`). A value
is read with the spec's own literal rules; a name must be a `let` of the spec.
"""

from __future__ import annotations

import re

from ..diagnostics import Diagnostics, Span, did_you_mean, shape_source
from ..grammar import syntax as s


def parse_override(text) -> s.Value:
    """A `--set NAME=VALUE` value, read with the spec's own literal rules. From Python, an
    int, float, bool or tuple of ints (a shape) is accepted as well as its text."""
    if isinstance(text, bool):
        text = "true" if text else "false"
    elif isinstance(text, tuple):
        text = shape_source(text)
    text = str(text)
    span = Span(0, 0, 0, 0)
    if re.fullmatch(r"[0-9]+(x[0-9]+)+", text) and len(text) <= 64:
        return s.Value("shape", tuple(int(d) for d in text.split("x")), text, span)
    if re.fullmatch(r"-?[0-9]{1,64}", text):
        return s.Value("number", int(text), text, span)
    if re.fullmatch(r"-?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?", text) and len(text) <= 64:
        return s.Value("number", float(text), text, span)
    if text in ("true", "false"):
        return s.Value("bool", text == "true", text, span)
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", text):
        return s.Value("name", text, text, span)
    return s.Value("string", text, text, span)


def check_override_names(overrides, lets, diags: Diagnostics) -> None:
    """Every `--set NAME=...` must name a `let` of the spec."""
    for name in overrides:
        if name not in lets:
            hint = "defined constants: " + ", ".join(lets) if lets else "the spec defines no `let`"
            diags.error(
                "E213", f"--set: unknown constant '{name}'{did_you_mean(name, lets)}", hint=hint
            )
