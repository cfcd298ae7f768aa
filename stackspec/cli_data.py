"""`stackspec schema DATA`: the command that suggests a data section (training/schema.py)."""

from __future__ import annotations

import click

from .cli_options import INPUT


@click.command()
@click.argument("data_path", metavar="DATA", type=INPUT)
@click.option("--target", help="The column to predict (labels are suggested for classes).")
def schema(data_path, target):
    """Print a suggested `input` line and `data` section for a CSV or Parquet file."""
    from .training.schema import schema_text

    click.echo(schema_text(data_path, target), nl=False)
