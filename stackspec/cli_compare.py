"""`stackspec compare RUN...`: several run folders side by side, a table and one plot."""

from __future__ import annotations

import click


@click.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path())
@click.option("-o", "--output", type=click.Path(), help="Write the plot here (PNG).")
@click.option(
    "--metric",
    help="The metric to show beside the loss (accuracy, mae, ...) [default: the first metric "
    "of the runs' histories].",
)
def compare(runs, output, metric):
    """Compare training runs: a table of best and final values, epochs and wall time, and with
    -o a plot of their learning curves overlaid (training solid, validation dashed)."""
    from .files import plan_output, write_output
    from .training.comparison import default_metric, read_run, render_png, table

    histories = [(f"the run {r}", f"{r}/history.csv") for r in runs]
    out = plan_output(output, histories) if output else None
    read = [read_run(path) for path in runs]
    if metric is not None:
        base = metric.removeprefix("val_")
        if not any(base in r.history or metric in r.history for r in read):
            raise click.UsageError(f"--metric {metric}: no run's history has it")
    metric = metric or default_metric(read)
    click.echo(table(read, metric))
    if out is not None:
        write_output(out, render_png(read, metric))
        click.echo(f"wrote {output}", err=True)
