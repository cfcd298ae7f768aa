"""What the commands that read a spec and build a model share: loading the spec (its warnings on
stderr), the --batch memory check, compiling for a backend and device, loading weights."""

from __future__ import annotations

import click

from .cli_options import current_limits, parse_sets
from .diagnostics import render_all


def load_spec(path: str, sets: tuple[str, ...]):
    from .spec import load

    spec = load(path, parse_sets(sets), limits=current_limits())
    if spec.warnings:
        click.echo(render_all(spec.warnings, spec.source), err=True)
    return spec


def check_memory(spec, batch: int) -> None:
    """E406 for a --batch that the train section's batch size passed."""
    from .compiler.memory import check
    from .diagnostics import Diagnostics

    diags = Diagnostics(spec.file)
    check(spec.ir, diags, current_limits().memory, batch, " (--batch)")
    diags.raise_if_errors(spec.source)


def build_model(spec, backend: str, device: str, seed: int | None = None):
    """spec.compile with `device` for torch only; --device cuda with numpy is a usage error."""
    if backend != "torch" and device == "cuda":
        raise click.UsageError("--device cuda needs --backend torch")
    options = {"device": device} if backend == "torch" else {}
    return spec.compile(backend, seed=seed, **options)


def load_weights_into(model, path: str) -> None:
    notes = model._load_file(path)
    if notes:
        click.echo(render_all(notes), err=True)
