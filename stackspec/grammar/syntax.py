"""The syntax tree: frozen dataclasses with source spans, built by parser.py, checked later."""

from __future__ import annotations

from ..diagnostics import Span
from ..records import record


@record
class Value:
    """A literal or a name as written. kind: number, shape, string, name, bool, list (`[a, 1,
    "x"]`, its items Values), or invalid (a literal already reported as an error, which later
    checks skip silently).

    A `let` may also hold a search space (`choice(256, 512)`), kind space, its value the
    function's name and its arguments (a tuple of Values)."""

    kind: str
    value: object  # int | float | tuple[int, ...] | str | bool | tuple[Value, ...] (a list)
    text: str
    span: Span


@record
class Kwarg:
    """A `name=value` argument of a call."""

    name: str
    value: Value
    span: Span  # the name


@record
class Call:
    """A layer call, a block call, or a train setting: `NAME positional* key=value*`."""

    name: str
    args: tuple[Value, ...]
    kwargs: tuple[Kwarg, ...]
    span: Span  # the name
    end: Span  # the whole statement


@record
class Input:
    """`input 11` or `input 1x28x28`."""

    shape: Value
    span: Span


@record
class Let:
    """`let name = value`, a constant that `--set` may override."""

    name: str
    value: Value
    span: Span  # the name


@record
class Param:
    """A block parameter, with its default value if it has one."""

    name: str
    default: Value | None
    span: Span


@record
class Body:
    """The statements between `{` and `}`, with the braces' positions."""

    stmts: tuple[Stmt, ...]
    open: Span
    close: Span


@record
class Block:
    """`block name(params) { body }`, a user-defined layer."""

    name: str
    params: tuple[Param, ...]
    body: Body
    span: Span  # the name


@record
class Repeat:
    """`repeat N { body }`."""

    count: Value
    body: Body
    span: Span  # the keyword


@record
class Residual:
    """`residual { body }`: y = x + body(x)."""

    body: Body
    span: Span


@record
class Join:
    """`concat { branch { ... } ... }` or `add { ... }` (op): every branch reads the same input;
    their outputs are concatenated or summed. The body should hold only branches."""

    op: str
    body: Body
    span: Span


@record
class Branch:
    """`branch { body }`, one path of a join."""

    body: Body
    span: Span


@record
class Train:
    """`train { settings }`."""

    body: Body
    span: Span


@record
class Data:
    """`data { settings }` (LANGUAGE.md §11): how a table becomes features and targets."""

    body: Body
    span: Span


Stmt = Input | Let | Block | Repeat | Residual | Join | Branch | Train | Data | Call


@record
class Comment:
    """A `#` comment, kept for `fmt`."""

    text: str
    line: int
    column: int


@record
class Program:
    """A whole spec file: its top-level statements and its comments."""

    stmts: tuple[Stmt, ...]
    comments: tuple[Comment, ...] = ()


def first_line(stmt: Stmt) -> int:
    return stmt.span.line


def last_line(stmt: Stmt) -> int:
    """The line a statement ends on (its closing brace for statements with a body)."""
    body = getattr(stmt, "body", None)
    if body is not None:
        return body.close.line
    if isinstance(stmt, Call):
        return stmt.end.end_line
    if isinstance(stmt, Input):
        return stmt.shape.span.end_line
    if isinstance(stmt, Let):
        return stmt.value.span.end_line
    return stmt.span.line
