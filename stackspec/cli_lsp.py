"""`stackspec lsp`: the language server for editors, on stdin/stdout (docs/editors.md)."""

from __future__ import annotations

import importlib.util

import click

from .diagnostics import UserError

MISSING = "`stackspec lsp` needs the pygls package: pip install 'stackspec[lsp]'"


@click.command()
@click.option("--stdio", is_flag=True, help="Talk on stdin/stdout (the default and only mode).")
def lsp(stdio):
    """Run the language server: live diagnostics, shapes inline, completion, hover."""
    # Checked before importing: an ImportError inside the server itself is a bug to show.
    if importlib.util.find_spec("pygls") is None:
        raise UserError(MISSING)
    from .lsp.server import serve

    serve()
