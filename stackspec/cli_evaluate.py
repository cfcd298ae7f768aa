"""`stackspec evaluate`: the loss and metrics of trained weights on a data file, a classifier's
confusion matrix, `--json`, and `--out DIR` (evaluation.json, confusion.png); the report itself
is training/evaluation.py's."""

from __future__ import annotations

import os

import click

from .cli_data import warn_not_finite
from .cli_model import build_model, load_spec, load_weights_into
from .cli_options import (
    backend_options,
    data_options,
    data_section,
    model_inputs,
    one_stdin,
    spec_options,
)
from .diagnostics import printable


@click.command()
@model_inputs
@click.option("--target", help="The CSV column of true values [default: the data section's].")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of lines.")
@click.option(
    "--out",
    type=click.Path(),
    help="Also write evaluation.json, and confusion.png for a classifier, into this folder.",
)
@data_options
@backend_options
@spec_options
def evaluate(
    spec, weights, data_path, target, as_json, out, drop, delimiter, backend, device, sets
):
    """Print the loss and metrics of trained weights on a CSV (evaluation mode), and for a
    classifier its confusion matrix."""
    from .training.data_section import dataset_for
    from .training.evaluation import evaluate as evaluation
    from .training.evaluation import to_json, to_text
    from .training.runs import commit_outputs, plan_out_dir

    one_stdin(SPEC=spec, **{"--weights": weights, "--data": data_path})
    inputs = (("the spec", spec), ("the --weights file", weights), ("the --data file", data_path))
    real_out = None if out is None else plan_out_dir(out, inputs)
    s = load_spec(spec, sets)
    model = build_model(s, backend, device)
    load_weights_into(model, weights)
    section = data_section(s.ir, target, drop, delimiter)
    ds = dataset_for(s.ir, section, data_path, target, model.encoding)
    ev = evaluation(model, ds.X, ds.y)
    click.echo(to_json(ev) if as_json else to_text(ev), nl=as_json)
    for why in ev.undefined.values():
        click.echo(f"note: {why}", err=True)
    warn_not_finite({k: v for k, v in ev.scores.items() if k not in ev.undefined})
    if real_out is None:
        return
    data_name = "stdin" if data_path == "-" else os.path.basename(data_path)
    title = (
        f"{os.path.basename(s.file)} on {data_name}: confusion matrix "
        f"({len(ds.y)} examples, {model.backend} backend)"
    )
    commit_outputs(real_out, lambda tmp: write_evaluation(tmp, ev, title), out)
    files = "evaluation.json" + (", confusion.png" if ev.confusion is not None else "")
    click.echo(f"wrote {printable(out)}/: {files}", err=True)


def write_evaluation(folder: str, ev, title: str) -> None:
    from .files import write_bytes, write_text
    from .training.evaluation import render_confusion_png, to_json

    write_text(os.path.join(folder, "evaluation.json"), to_json(ev) + "\n")
    if ev.confusion is not None:
        write_bytes(os.path.join(folder, "confusion.png"), render_confusion_png(ev, title))
