"""`stackspec predict`: a data file through a trained model, its predictions as CSV.

A regular file is read, encoded, predicted and written in chunks (training/chunks.py), so a
file of millions of rows takes the memory of one chunk; the output is still written all or
nothing (files.output_pieces). Whatever the chunked reader declines (a file with a problem to
report, stdin) is read whole, as before, so the diagnostics are the whole-file reader's.
"""

from __future__ import annotations

import click

from .cli_data import not_finite_rows, warn_not_finite_rows
from .cli_model import build_model, load_spec, load_weights_into
from .cli_options import (
    backend_options,
    data_options,
    data_section,
    model_inputs,
    one_stdin,
    spec_options,
)


@click.command()
@model_inputs
@click.option("--target", help="A column to ignore if present (the true values).")
@click.option("-o", "--output", type=click.Path(), help="CSV file [default: stdout]")
@data_options
@backend_options
@spec_options
def predict(spec, weights, data_path, target, output, drop, delimiter, backend, device, sets):
    """Write predictions as CSV: `prediction` (or prediction_0..k), and `label` for
    crossentropy. Probabilities for bce and crossentropy, raw outputs otherwise."""
    from .files import plan_output

    inputs = ("the spec", spec), ("the --weights file", weights), ("the --data file", data_path)
    output = plan_output("-" if output is None else output, inputs)
    from .training.chunks import Declined, chunk_rows, predict_chunks

    one_stdin(SPEC=spec, **{"--weights": weights, "--data": data_path})
    s = load_spec(spec, sets)
    model = build_model(s, backend, device)
    load_weights_into(model, weights)
    section = data_section(s.ir, target, drop, delimiter, need_target=False)
    rows = chunk_rows(s.ir.train["batch"])
    chunks = predict_chunks(s.ir, section, data_path, target, model.encoding, rows)
    try:
        if chunks is not None:
            _write_chunks(model, chunks, output)
            return
    except Declined:
        pass
    _write_whole(model, s.ir, section, data_path, target, output)


def _write_chunks(model, chunks, output) -> None:
    """Each chunk predicted and written; the warning for values that are not finite counts
    the whole file's rows, as it does when the file is read whole."""
    import numpy as np

    from .files import output_pieces
    from .training.runs import prediction_header, prediction_rows

    loss = model.ir.train["loss"]["name"]
    width = int(np.prod(model.ir.output_shape))
    bad = total = 0
    with output_pieces(output) as write:
        for i, ds in enumerate(chunks):
            pred = model.predict(ds.X)
            if i == 0:
                write(prediction_header(width, loss, ds.keep).encode("utf-8"))
            write(prediction_rows(pred, loss, model.encoding, ds.keep).encode("utf-8"))
            bad += not_finite_rows(pred)
            total += len(pred)
        warn_not_finite_rows(bad, total)


def _write_whole(model, ir, section, data_path, target, output) -> None:
    from .files import write_output
    from .training.data_section import dataset_for
    from .training.runs import prediction_csv

    ds = dataset_for(ir, section, data_path, target, model.encoding, need_target=False)
    pred = model.predict(ds.X)
    warn_not_finite_rows(not_finite_rows(pred), len(pred))
    csv = prediction_csv(pred, ir.train["loss"]["name"], model.encoding, ds.keep)
    write_output(output, csv.encode("utf-8"))
