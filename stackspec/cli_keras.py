"""`stackspec import-keras`: a Keras Sequential model or Functional chain (.keras or config.json) ->
a formatted spec, and from a `.keras` file its weights as a stackspec weight file. The mapping
is backends/keras/ (importer.py); `compile --emit keras` goes the other way."""

from __future__ import annotations

import click

from .diagnostics import UserError, printable


@click.command("import-keras")
@click.argument("model", type=click.Path(dir_okay=True))
@click.option(
    "--weights-out",
    type=click.Path(),
    help="Write the model's weights here, as a stackspec safetensors file (.keras only).",
)
@click.option("-o", "--output", type=click.Path(), help="Write the spec here instead of stdout.")
def import_keras(model, weights_out, output):
    """Turn a Keras Sequential MODEL or Functional chain (.keras or config.json) into a spec."""
    from .files import plan_output, write_output

    inputs = (("the Keras model", model),)
    spec_out = plan_output("-" if output is None else output, inputs)
    weights_plan = None
    if weights_out is not None:
        weights_plan = plan_output(weights_out, inputs)
        if output is not None and spec_out.path == weights_plan.path:
            raise UserError("--weights-out and -o name the same file")
        if weights_plan.kind == "stdout":
            raise UserError("--weights-out: a weight file is binary; name a file")

    from .backends.keras.importer import import_keras as convert
    from .training.weights import weight_file_bytes

    imported = convert(model, with_weights=weights_out is not None)
    for note in imported.notes:
        click.echo(f"warning: {printable(note)}", err=True)
    if weights_plan is not None:
        write_output(weights_plan, weight_file_bytes(imported.ir, imported.weights))
    write_output(spec_out, imported.text.encode("utf-8"))
    ir = imported.ir
    counted = f"{ir.param_count:,} parameters + {ir.state_count:,} state"
    if imported.keras_count is not None:
        counted += f" (Keras: {imported.keras_count:,} values in its variables)"
    layers = sum(1 for _ in ir.walk())
    click.echo(f"imported {printable(model)}: {layers} layers, {counted}", err=True)
