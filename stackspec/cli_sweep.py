"""`stackspec sweep`: a spec trained at every point of a grid of `--set` values (or the lists
zipped), each point a run folder, then the table of the points and their curves compared."""

from __future__ import annotations

import itertools
import os
import re
from pathlib import Path

import click

from .cli_options import INPUT
from .cli_tune import metric_text, run_options, run_point
from .diagnostics import printable


def sweep_points(sets: tuple[str, ...], zipped: bool) -> list[dict[str, str]]:
    """`--set a=1,2 --set b=x,y` as the grid of points (or the lists zipped, a single value
    repeated); a usage error for lists of different lengths under --zip."""
    axes = []
    for item in sets:
        name, sep, values = item.partition("=")
        if not sep or not name.strip() or not values.strip():
            raise click.BadParameter(f"expected NAME=V1,V2,..., got {item!r}", param_hint="--set")
        axes.append((name.strip(), [v.strip() for v in values.split(",") if v.strip()]))
    if not zipped:
        return [
            dict(zip([n for n, _ in axes], combo, strict=True))
            for combo in itertools.product(*(vs for _, vs in axes))
        ]
    lengths = {len(vs) for _, vs in axes if len(vs) > 1}
    if len(lengths) > 1:
        raise click.UsageError(f"--zip: the --set lists have different lengths {sorted(lengths)}")
    n = lengths.pop() if lengths else 1
    return [{name: vs[i] if len(vs) > 1 else vs[0] for name, vs in axes} for i in range(n)]


def point_name(i: int, point: dict[str, str]) -> str:
    text = "-".join(f"{k}={v}" for k, v in point.items())
    return f"{i:04d}-" + re.sub(r"[^A-Za-z0-9_.=+-]", "_", text)[:80]


@click.command()
@click.argument("spec", type=INPUT)
@click.option("--zip", "zipped", is_flag=True, help="Zip the --set lists instead of the grid.")
@run_options
def sweep(spec, zipped, sets, **options):
    """Train SPEC at every point of a grid: `--set width=256,512 --set rate=0.2,0.3` is four
    runs, each a run folder in --out; a finished point is not run again."""
    from .cli_model import load_spec
    from .training.comparison import best_of, read_run, render_png, table
    from .training.tuning import trials_table

    options["spec"] = spec
    points = sweep_points(sets, zipped)
    load_spec(spec, tuple(f"{k}={v}" for k, v in points[0].items()))  # spec errors first
    out = Path(options["out"] or os.path.join("runs", Path(spec).stem + "-sweep"))
    metric, runs, rows = options["metric"], [], []
    for i, point in enumerate(points):
        folder = out / point_name(i, point)
        done = _finished(folder)
        error = None if done else run_point(options, folder, [f"{k}={v}" for k, v in point.items()])
        value = None
        if (folder / "run.json").exists() and (folder / "history.csv").exists():
            run = read_run(str(folder))
            runs.append(run)
            found = best_of(run.history.get(metric, []), metric)
            value = found[0] if found else None
        state = "failed" if error else ("done before" if done else "finished")
        rows.append((folder.name, state, value, point))
        click.echo(f"{folder}: {error or metric_text(metric, value)}")
    click.echo(trials_table(_ranked(rows, metric), metric))
    if runs:
        click.echo(table(runs, metric.removeprefix("val_") if metric != "val_loss" else None))
        from .files import write_bytes

        write_bytes(out / "compare.png", render_png(runs, metric.removeprefix("val_")))
        click.echo(f"wrote {printable(str(out))}/compare.png", err=True)


def _finished(folder: Path) -> bool:
    from .training.run_folder import earlier_run

    record = earlier_run(folder)
    return bool(record) and record.get("status") in ("finished", "early_stop")


def _ranked(rows, metric):
    from .training.comparison import better

    sign = 1 if better(metric) == "min" else -1
    return sorted(rows, key=lambda r: (r[2] is None, sign * (r[2] or 0.0)))
