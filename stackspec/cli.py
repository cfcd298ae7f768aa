"""The `stackspec` command line (LANGUAGE.md §9). Thin: parse arguments, call the library,
print, choose the exit code. Heavy modules (numpy, torch) are imported only by the commands
that need them, so `check` and `fmt` start fast."""

from __future__ import annotations

import sys
import traceback

import click

from .diagnostics import SpecError, UserError, render_all, to_json
from .shapes import MAX_PARAMS

EXIT_OK, EXIT_USER, EXIT_USAGE, EXIT_BUG, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class Failed(Exception):
    """A handled failure: the message was printed, exit with `code`."""

    def __init__(self, code: int = EXIT_USER):
        self.code = code


class StackspecGroup(click.Group):
    """Maps failures to the contract's exit codes; tracebacks only for bugs, with --debug."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise
        except Failed as e:
            ctx.exit(e.code)
        except SpecError as e:
            click.echo(render_all(e.diagnostics, e.source), err=True)
            ctx.exit(EXIT_USER)
        except UserError as e:
            click.echo(f"error: {e}", err=True)
            ctx.exit(EXIT_USER)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(EXIT_INTERRUPTED)
        except Exception as e:  # anything else is our bug, never the user's
            if (ctx.obj or {}).get("debug"):
                traceback.print_exc()
            click.echo(
                f"internal error: {type(e).__name__}: {e}\n"
                "this is a bug; rerun with --debug for the traceback",
                err=True,
            )
            ctx.exit(EXIT_BUG)


def parse_sets(values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise click.BadParameter(f"expected NAME=VALUE, got {item!r}", param_hint="--set")
        out[name.strip()] = value.strip()
    return out


def spec_options(f):
    f = click.option(
        "--set", "sets", multiple=True, metavar="NAME=VALUE", help="Override a `let` constant."
    )(f)
    f = click.option(
        "--max-params",
        type=click.IntRange(min=1),
        default=MAX_PARAMS,
        show_default=True,
        help="Refuse models with more trainable parameters.",
    )(f)
    return f


def load_spec(path: str, sets: tuple[str, ...], max_params: int):
    from .spec import load

    spec = load(path, parse_sets(sets), max_params)
    if spec.warnings:
        click.echo(render_all(spec.warnings, spec.source), err=True)
    return spec


def write_output(text: str, out: str | None) -> None:
    from .files import atomic_write_text

    if out is None or out == "-":
        click.echo(text, nl=not text.endswith("\n"))
    else:
        atomic_write_text(out, text if text.endswith("\n") else text + "\n")


@click.group(cls=StackspecGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks of internal errors.")
@click.version_option(package_name="stackspec")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """stackspec: compile declarative model specs to NumPy or PyTorch."""
    ctx.ensure_object(dict)["debug"] = debug


@main.command()
@click.argument("specs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print diagnostics as a JSON array.")
@spec_options
def check(specs, as_json, sets, max_params):
    """Parse and validate SPEC files; report every problem."""
    from .compiler import compile_source
    from .spec import read_spec

    overrides = parse_sets(sets)
    everything, failed = [], False
    for path in specs:
        try:
            source = read_spec(path)
        except SpecError as e:
            everything += e.diagnostics
            failed = True
            if not as_json:
                click.echo(render_all(e.diagnostics), err=True)
            continue
        result = compile_source(source, path, overrides, max_params)
        diags = result.diags.sorted()
        everything += diags
        failed |= result.diags.has_errors
        if not as_json:
            if diags:
                click.echo(render_all(diags, source), err=True)
            if result.ir is not None:
                ir = result.ir
                click.echo(
                    f"{path}: ok ({sum(1 for _ in ir.walk())} layers, "
                    f"{ir.param_count:,} parameters)"
                )
    if as_json:
        click.echo(to_json(everything))
    if failed:
        raise Failed(EXIT_USER)


@main.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@spec_options
def summary(spec, sets, max_params):
    """Print a table of layers, output shapes and parameter counts."""
    from .summary import summary as table

    s = load_spec(spec, sets, max_params)
    click.echo(table(s.ir, spec))


@main.command("compile")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option(
    "--backend", type=click.Choice(["numpy", "torch"]), default="numpy", show_default=True
)
@click.option("--emit", type=click.Choice(["ir", "python"]), default="ir", show_default=True)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), help="Write here instead of stdout."
)
@spec_options
def compile_(spec, backend, emit, output, sets, max_params):
    """Print the validated IR as JSON, or standalone Python source for a backend."""
    s = load_spec(spec, sets, max_params)
    if emit == "ir":
        write_output(s.ir.dumps(), output)
    else:
        from .emit import emit_python

        write_output(emit_python(s, backend), output)


@main.command()
@click.argument("specs", nargs=-1, required=True)
@click.option(
    "--check", "check_only", is_flag=True, help="Change nothing; exit 1 if a file would change."
)
def fmt(specs, check_only):
    """Rewrite SPEC files in canonical form (`-` reads stdin and writes stdout)."""
    from .files import atomic_write_text
    from .fmt import format_source
    from .spec import read_spec

    would_change = failed = False
    for path in specs:
        try:
            source = sys.stdin.read() if path == "-" else read_spec(path)
            formatted = format_source(source, "<stdin>" if path == "-" else path)
        except SpecError as e:
            click.echo(render_all(e.diagnostics, e.source), err=True)
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
            click.echo(f"would reformat {path}", err=True)
        else:
            atomic_write_text(path, formatted)
            click.echo(f"reformatted {path}", err=True)
    if failed or (check_only and would_change):
        raise Failed(EXIT_USER)


def run() -> None:
    """Console-script entry point."""
    try:
        main(standalone_mode=True)
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)


if __name__ == "__main__":
    run()
