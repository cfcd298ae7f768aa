"""How the command line ends: the contract's exit codes and the failures that map to them.

StackspecGroup turns every exception of a command into a message and an exit code: 1 for the
user's errors (a spec, a file, the memory), 3 with "this is a bug" for anything else, 130 for an
interrupt. Tracebacks only with --debug.
"""

from __future__ import annotations

import click

from .diagnostics import SpecError, UserError, printable, render_all
from .interrupts import EXIT_INTERRUPTED, finishing

# Usage errors exit 2 through click itself.
EXIT_OK, EXIT_USER, EXIT_BUG = 0, 1, 3  # 130, interrupted: interrupts.EXIT_INTERRUPTED


class Failed(Exception):
    """A handled failure: the message was printed, exit with `code`."""

    def __init__(self, code: int = EXIT_USER):
        self.code = code


class StackspecGroup(click.Group):
    """Maps failures to the contract's exit codes; tracebacks only for bugs, with --debug."""

    def invoke(self, ctx: click.Context):
        from .files import flush_stdout, is_stdout_failure, stdout_failed

        try:
            result = super().invoke(ctx)
            flush_stdout()  # a full disk under `> FILE` is reported, not lost at exit
            return result
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise
        except Failed as e:
            try:  # what was printed before the failure, written or reported
                flush_stdout()
            except UserError as err:
                click.echo(f"error: {err}", err=True)
            ctx.exit(e.code)
        except SpecError as e:
            click.echo(render_all(e.diagnostics, e.source, e.notes), err=True)
            ctx.exit(EXIT_USER)
        except UserError as e:
            click.echo(f"error: {printable(str(e))}", err=True)
            ctx.exit(EXIT_USER)
        except KeyboardInterrupt:
            finishing()
            click.echo("interrupted", err=True)
            ctx.exit(EXIT_INTERRUPTED)
        except Exception as e:  # anything else is our bug, never the user's
            if is_stdout_failure(e):  # a print to a full disk or a closed pipe
                click.echo(f"error: {stdout_failed(e)}", err=True)
                ctx.exit(EXIT_USER)
            if _out_of_memory(e):
                click.echo(
                    "error: not enough memory to run this command; reduce --batch or the "
                    "model's size, or lower --max-memory so that `check` refuses such specs",
                    err=True,
                )
                ctx.exit(EXIT_USER)
            if (ctx.obj or {}).get("debug"):
                import traceback  # only here: `check` starts without it

                traceback.print_exc()
            click.echo(
                f"internal error: {type(e).__name__}: {e}\n"
                "this is a bug; rerun with --debug for the traceback",
                err=True,
            )
            ctx.exit(EXIT_BUG)


def _out_of_memory(e: BaseException) -> bool:
    """MemoryError (NumPy's too), or torch's out-of-memory errors (a CUDA OutOfMemoryError, a
    RuntimeError from its CPU allocator), recognised without importing torch."""
    if isinstance(e, MemoryError) or type(e).__name__ == "OutOfMemoryError":
        return True
    text = str(e) if isinstance(e, RuntimeError) else ""
    return "can't allocate memory" in text or "out of memory" in text.lower()


def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A Python warning (NumPy's overflow, a library's deprecation) reaches the user as one
    `warning:` line, never as a source line with a file name of ours."""
    click.echo(f"warning: {printable(str(message))}", err=True)
