"""The syntax tree: frozen dataclasses with source spans, built by parser.py, checked later."""

from __future__ import annotations

from dataclasses import dataclass

from .diagnostics import Span


@dataclass(frozen=True)
class Value:
    """A literal or a name as written. kind: number, shape, string, name, bool, or invalid (a
    literal already reported as an error, which later checks skip silently)."""

    kind: str
    value: object  # int | float | tuple[int, ...] | str | bool
    text: str
    span: Span


@dataclass(frozen=True)
class Kwarg:
    name: str
    value: Value
    span: Span  # the name


@dataclass(frozen=True)
class Call:
    """A layer call, a block call, or a train setting: `NAME positional* key=value*`."""

    name: str
    args: tuple[Value, ...]
    kwargs: tuple[Kwarg, ...]
    span: Span  # the name
    end: Span  # the whole statement


@dataclass(frozen=True)
class Input:
    shape: Value
    span: Span


@dataclass(frozen=True)
class Let:
    name: str
    value: Value
    span: Span  # the name


@dataclass(frozen=True)
class Param:
    name: str
    default: Value | None
    span: Span


@dataclass(frozen=True)
class Body:
    stmts: tuple[Stmt, ...]
    open: Span
    close: Span


@dataclass(frozen=True)
class Block:
    name: str
    params: tuple[Param, ...]
    body: Body
    span: Span  # the name


@dataclass(frozen=True)
class Repeat:
    count: Value
    body: Body
    span: Span  # the keyword


@dataclass(frozen=True)
class Residual:
    body: Body
    span: Span


@dataclass(frozen=True)
class Train:
    body: Body
    span: Span


Stmt = Input | Let | Block | Repeat | Residual | Train | Call


@dataclass(frozen=True)
class Comment:
    text: str
    line: int
    column: int


@dataclass(frozen=True)
class Program:
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
