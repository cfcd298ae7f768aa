"""`stackspec compile SPEC --emit onnx [--weights W] -o model.onnx` (docs/export.md).

ONNX is a binary file, so it needs `-o`: a file, or `-o -` when stdout is a pipe or a file,
never a terminal. The weights are a trained file's, checked as `evaluate` checks them, or else
the spec's initial weights from its seed.
"""

from __future__ import annotations

import sys

import click

from .cli_model import load_spec
from .diagnostics import render_all

NEEDS_OUTPUT = "--emit onnx writes a binary file: give -o model.onnx (or -o - to pipe it)"
TERMINAL = "refusing to write binary ONNX to a terminal; give -o model.onnx or pipe stdout"


def emit_onnx(spec_path: str, weights_path: str | None, output: str | None, sets) -> None:
    from .backends.onnx import onnx_bytes, require_onnx
    from .cli_options import one_stdin
    from .files import plan_output, write_output

    if output is None:
        raise click.UsageError(NEEDS_OUTPUT)
    inputs = [("the spec", spec_path)]
    if weights_path is not None:
        inputs.append(("the --weights file", weights_path))
    out = plan_output(output, inputs)
    if out.kind == "stdout" and _is_terminal():
        raise click.UsageError(TERMINAL)
    one_stdin(SPEC=spec_path, **{"--weights": weights_path})
    spec = load_spec(spec_path, sets)
    require_onnx()
    weights = _weights(spec, weights_path)
    write_output(out, onnx_bytes(spec.ir, weights, str(spec.file or "")))


def _weights(spec, path: str | None) -> dict:
    if path is None:
        from .layers.init import initial_weights

        return initial_weights(spec.ir, spec.ir.train["seed"])
    from .training.weights import load_weights

    weights, notes = load_weights(path, spec.ir)  # E6xx as `evaluate` reports them
    if notes:
        click.echo(render_all(notes), err=True)
    return weights


def _is_terminal() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False
