"""The `stackspec` command line (LANGUAGE.md §9). Thin: parse arguments, call the library,
print, choose the exit code. Heavy modules (numpy, torch) are imported only by the commands
that need them, so `check` and `fmt` start fast. The shared options are in cli_options.py, the
exit codes and the mapping of failures to them in cli_exits.py, `train` in cli_train.py,
`evaluate` in cli_evaluate.py."""

from __future__ import annotations

import errno
import importlib
import os
import sys
import warnings

import click

from .cli_exits import EXIT_INTERRUPTED, EXIT_OK, EXIT_USER, Failed, StackspecGroup, show_warning
from .cli_options import (
    INPUT,
    current_limits,
    limit_options,
    one_stdin,
    parse_sets,
    spec_options,
)
from .diagnostics import MAX_REPORTED, SpecError, UserError, printable, render_all, to_json
from .interrupts import exit_interrupted, exit_now, exiting, install, swallowed

# The commands in modules of their own: name -> (module, attribute). Each module is imported
# when its command runs (or `--help` lists it), so that `check` starts without the training
# side's option tables and helpers (about a dozen modules).
LAZY_COMMANDS = {
    "compare": ("cli_compare", "compare"),
    "draw": ("cli_draw", "draw"),
    "evaluate": ("cli_evaluate", "evaluate"),
    "import-keras": ("cli_keras", "import_keras"),
    "lsp": ("cli_lsp", "lsp"),
    "predict": ("cli_predict", "predict"),
    "schema": ("cli_data", "schema"),
    "sweep": ("cli_sweep", "sweep"),
    "train": ("cli_train", "train"),
    "tune": ("cli_tune", "tune"),
}


class LazyGroup(StackspecGroup):
    """click's group with LAZY_COMMANDS listed always and imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands and name in LAZY_COMMANDS:
            module, attribute = LAZY_COMMANDS[name]
            command = getattr(importlib.import_module(f".{module}", __package__), attribute)
            self.add_command(command, name)
        return super().get_command(ctx, name)


def plan_output(out: str | None, *inputs: tuple[str, str | None]):
    """`-o OUT` checked before any work (files.plan_output); None is stdout."""
    from .files import plan_output as plan

    return plan("-" if out is None else out, inputs)


def write_output(text: str, out) -> None:
    from .files import write_output as write

    write(out, (text if text.endswith("\n") else text + "\n").encode("utf-8"))


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks of internal errors.")
@click.version_option(package_name="stackspec")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """stackspec: compile declarative model specs to NumPy or PyTorch."""
    ctx.ensure_object(dict)["debug"] = debug


@main.command()
@click.argument("specs", nargs=-1, required=True, type=INPUT)
@click.option("--json", "as_json", is_flag=True, help="Print diagnostics as a JSON array.")
@spec_options
def check(specs, as_json, sets):
    """Parse and validate SPEC files; report every problem."""
    from .compiler.pipeline import compile_source
    from .inputs import display_name
    from .spec import read_spec

    one_stdin(**{f"SPEC {i}": path for i, path in enumerate(specs, 1)})
    overrides = parse_sets(sets)
    limits = current_limits()
    everything, failed = [], False
    for path in specs:
        try:
            source = read_spec(path, limits.file_bytes)
        except SpecError as e:
            everything += e.diagnostics[:MAX_REPORTED]
            failed = True
            if not as_json:
                click.echo(render_all(e.diagnostics, e.source), err=True)
            continue
        path = display_name(path)
        result = compile_source(source, path, overrides, limits=limits)
        diags = result.diags.sorted()
        everything += diags[:MAX_REPORTED]
        failed |= result.diags.has_errors
        if not as_json:
            if diags:
                click.echo(render_all(diags, source, result.diags.notes), err=True)
            if result.ir is not None:
                ir = result.ir
                click.echo(
                    f"{printable(path)}: ok ({sum(1 for _ in ir.walk())} layers, "
                    f"{ir.param_count:,} parameters)"
                )
    if as_json:
        click.echo(to_json(everything, limit=None))
    if failed:
        raise Failed(EXIT_USER)


@main.command()
@click.argument("spec", type=INPUT)
@click.option(
    "--space", is_flag=True, help="Also the parameter counts over the search spaces' corners."
)
@spec_options
def summary(spec, space, sets):
    """Print a table of layers, output shapes and parameter counts."""
    from .cli_model import load_spec
    from .compiler.summary import summary as table

    s = load_spec(spec, sets)
    click.echo(table(s.ir, printable(s.file)))
    if space:
        from .compiler.summary import space_range

        lines = space_range(s.source, s.file, parse_sets(sets), current_limits())
        click.echo("\n".join(printable(line) for line in lines))


@main.command("compile")
@click.argument("spec", type=INPUT)
@click.option(
    "--backend", type=click.Choice(["numpy", "torch"]), default="numpy", show_default=True
)
@click.option(
    "--emit",
    type=click.Choice(["ir", "python", "onnx", "keras"]),
    default="ir",
    show_default=True,
)
@click.option("-o", "--output", type=click.Path(), help="Write here instead of stdout.")
@click.option(
    "--weights",
    type=INPUT,
    help="--emit onnx: the trained weights to export [default: the initial ones of the seed]",
)
@spec_options
def compile_(spec, backend, emit, output, weights, sets):
    """Print the validated IR as JSON, standalone Python source for a backend (`python`) or for
    Keras 3 (`keras`), or write the model as ONNX (-o FILE)."""
    from .cli_model import load_spec

    if emit == "onnx":
        from .cli_onnx import emit_onnx

        emit_onnx(spec, weights, output, sets)
        return
    if weights is not None:
        raise click.UsageError("--weights applies to --emit onnx only")
    output = plan_output(output, ("the spec", spec))
    s = load_spec(spec, sets)
    if emit == "ir":
        write_output(s.ir.dumps(), output)
    elif emit == "keras":
        from .backends.keras.source import keras_source

        write_output(keras_source(s), output)
    else:
        from .backends import emit_python

        write_output(emit_python(s, backend), output)


@main.command()
@click.argument("specs", nargs=-1, required=True)
@click.option(
    "--check", "check_only", is_flag=True, help="Change nothing; exit 1 if a file would change."
)
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="NAME=VALUE",
    help="Accepted like every command that reads a spec; NAME must be a `let` of the file. "
    "The file is formatted as written, never with the value.",
)
@limit_options
def fmt(specs, check_only, sets):
    """Rewrite SPEC files in canonical form (`-` reads stdin and writes stdout)."""
    from .compiler.fmt import format_source
    from .files import plan_output, write_output
    from .inputs import display_name
    from .spec import read_spec

    one_stdin(**{f"SPEC {i}": path for i, path in enumerate(specs, 1)})
    overrides = parse_sets(sets)
    limits = current_limits()
    would_change = failed = False
    for path in specs:
        try:
            source = read_spec(path, limits.file_bytes)  # `-` is stdin, read as a file is
            formatted = format_source(source, display_name(path), overrides, limits)
        except SpecError as e:
            click.echo(render_all(e.diagnostics, e.source, e.notes), err=True)
            failed = True
            continue
        if path == "-":
            if check_only:
                would_change |= formatted != source
            else:
                click.echo(formatted, nl=False)
            continue
        if formatted == source:
            continue
        would_change = True
        if check_only:
            click.echo(f"would reformat {printable(path)}", err=True)
            continue
        try:  # through a symlink to its target; the link stays a link
            write_output(plan_output(path), formatted.encode("utf-8"))
        except UserError as e:
            click.echo(f"error: {printable(str(e))}", err=True)
            failed = True
            continue
        click.echo(f"reformatted {printable(path)}", err=True)
    if failed or (check_only and would_change):
        raise Failed(EXIT_USER)


def run() -> None:
    """Console entry point, after __main__.main (which installs the signal handlers earlier).

    Not click's standalone mode: it turns a KeyboardInterrupt outside a command (in argument
    parsing, say) into "Aborted!" and exit 1; here every interrupt exits 130."""
    install()
    warnings.showwarning = show_warning
    try:
        code = _run_click()
    except KeyboardInterrupt:
        exit_interrupted()
    if code == EXIT_INTERRUPTED:  # `interrupted` was said; see exit_now for why not sys.exit
        exit_now(code)
    if swallowed():  # a signal whose KeyboardInterrupt Python ignored: still an interrupt
        exit_interrupted()
    exiting()
    sys.exit(code)


def _run_click() -> int:
    try:
        return main.main(standalone_mode=False) or EXIT_OK
    except click.exceptions.Abort as e:
        if isinstance(e.__cause__, KeyboardInterrupt):
            exit_interrupted()
        click.echo("Aborted!", err=True)  # EOF at a prompt, as click reports it
        return EXIT_USER
    except click.ClickException as e:
        e.show()
        return e.exit_code
    except OSError as e:
        if e.errno != errno.EPIPE:
            raise
        # The reader of stdout has gone (`stackspec predict ... | head`): say nothing more there.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_USER


if __name__ == "__main__":
    run()
