"""The command line's data helpers: `stackspec schema DATA` (training/schema.py), and the
one-line warnings of evaluate and predict when finite data and weights overflow float32."""

from __future__ import annotations

import math

import click

from .cli_options import INPUT


@click.command()
@click.argument("data_path", metavar="DATA", type=INPUT)
@click.option("--target", help="The column to predict (labels are suggested for classes).")
def schema(data_path, target):
    """Print a suggested `input` line and `data` section for a CSV or Parquet file."""
    from .training.schema import schema_text

    click.echo(schema_text(data_path, target), nl=False)


# Said when evaluate or predict meets inf or nan: finite weights and data, but too large.
OVERFLOW = "the values overflow float32 on this data (extreme feature values or weights)"


def warn_not_finite(results: dict[str, float]) -> None:
    bad = [name for name, value in results.items() if not math.isfinite(value)]
    if bad:
        verb = "is" if len(bad) == 1 else "are"
        click.echo(f"warning: {', '.join(bad)} {verb} not finite: {OVERFLOW}", err=True)


def warn_not_finite_rows(bad: int, total: int) -> None:
    """The warning for `bad` of `total` predictions that are not finite (none: nothing)."""
    if bad:
        click.echo(f"warning: {bad} of {total} predictions are not finite: {OVERFLOW}", err=True)


def not_finite_rows(pred) -> int:
    """The rows of `pred` (N, ...) holding a value that is not finite."""
    import numpy as np

    return int((~np.isfinite(pred.reshape(len(pred), -1))).any(axis=1).sum())
