"""What expansion produces (resolve.py): layer calls with literal values, and the structural
items (`residual`, `concat`, `add`) that keep their bodies nested."""

from __future__ import annotations

from ..diagnostics import Span
from ..grammar import syntax as s
from ..records import record


@record
class LayerCall:
    """One built-in layer after expansion, values resolved."""

    op: str
    args: tuple[s.Value, ...]
    kwargs: tuple[s.Kwarg, ...]
    span: Span
    names: tuple[str, ...] = ()  # constants and parameters in scope, for did-you-mean
    context: str = ""  # "in block 'h' called at line 9" for a layer written in a block


@record
class ResidualCall:
    """A `residual` after expansion: its body stays nested."""

    span: Span
    close: Span
    body: tuple[Item, ...]
    context: str = ""


@record
class Unknown:
    """A call that could not be expanded (already reported). What follows it has an unknown
    shape, so a misspelled layer is one error rather than one per later layer."""

    span: Span


@record
class JoinCall:
    """A `concat` or `add` (op) after expansion: each branch's items stay nested."""

    op: str
    span: Span
    branches: tuple[tuple[Item, ...], ...]
    branch_spans: tuple[Span, ...]
    context: str = ""


Item = LayerCall | ResidualCall | JoinCall | Unknown
