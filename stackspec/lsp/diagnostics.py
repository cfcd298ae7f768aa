"""`stackspec check`'s diagnostics as the protocol's: the same codes, spans and hints.

The hint goes on the message's second line (`hint: ...`), where editors show it under the
message, and in `data` for clients that want it apart. As `check` does, at most MAX_REPORTED are
sent; what was left out becomes one note at the top of the file.
"""

from __future__ import annotations

from lsprotocol import types as t

from ..diagnostics import MAX_REPORTED, Diagnostic
from .analysis import Analysis
from .positions import to_client

SOURCE = "stackspec"
SEVERITY = {"error": t.DiagnosticSeverity.Error, "warning": t.DiagnosticSeverity.Warning}


def to_range(lines: list[str], span, encoding: str) -> t.Range:
    start = to_client(lines, span.line, span.column, encoding)
    end = to_client(lines, span.end_line, span.end_column, encoding)
    return t.Range(t.Position(*start), t.Position(*end))


def convert(d: Diagnostic, lines: list[str], encoding: str) -> t.Diagnostic:
    message = d.message + (f"\nhint: {d.hint}" if d.hint else "")
    return t.Diagnostic(
        range=to_range(lines, d.span, encoding),
        message=message,
        severity=SEVERITY.get(d.severity, t.DiagnosticSeverity.Information),
        code=d.code,
        source=SOURCE,
        data={"hint": d.hint} if d.hint else None,
    )


def diagnostics(a: Analysis, encoding: str) -> list[t.Diagnostic]:
    items = a.compiled.diags.sorted()
    out = [convert(d, a.lines, encoding) for d in items[:MAX_REPORTED]]
    notes = list(a.compiled.diags.notes)
    if len(items) > MAX_REPORTED:
        notes.insert(0, f"... and {len(items) - MAX_REPORTED} more")
    if notes:
        out.append(
            t.Diagnostic(
                range=t.Range(t.Position(0, 0), t.Position(0, 0)),
                message="\n".join(notes),
                severity=t.DiagnosticSeverity.Information,
                source=SOURCE,
            )
        )
    return out
