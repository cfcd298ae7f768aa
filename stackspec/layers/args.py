"""Argument tables and binding: positional and keyword arguments -> a params dict.

Every layer, loss, optimizer and train setting declares its arguments as a tuple of `Arg`;
`bind` turns a call's resolved values into params with defaults filled in, and generates every
argument error (unknown or duplicate keyword, missing argument, wrong type, out of range) from
the table, so no layer writes its own checks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..diagnostics import Diagnostics, Span, did_you_mean
from ..syntax import Value

REQUIRED = object()


@dataclass(frozen=True)
class Arg:
    """One argument. type: int, float, bool, choice, size2 (int or HxW), padding, shape."""

    name: str
    type: str
    default: object = REQUIRED
    positional: bool = False
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # low bound excluded
    high_open: bool = False
    choices: tuple[str, ...] = ()
    aliases: dict = field(default_factory=dict)  # alias -> canonical choice
    size: bool = False  # a size: values below 1 are shape errors (E304), not range errors

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


def describe(v: Value) -> str:
    if v.kind == "name":
        return f"symbol '{v.text}'"
    if v.kind == "string":
        return f"string {v.text}"
    if v.kind == "shape":
        return f"shape {v.text}"
    return v.text


def _range_text(a: Arg) -> str:
    if a.high is None:
        return f"{'>' if a.low_open else '>='} {_num(a.low)}"
    lo = "(" if a.low_open else "["
    hi = ")" if a.high_open else "]"
    low = "-inf" if a.low is None else _num(a.low)
    high = "inf" if a.high is None else _num(a.high)
    return f"{lo}{low}, {high}{hi}"


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(x)


def _in_range(a: Arg, x: float) -> bool:
    if a.low is not None and (x < a.low or (a.low_open and x == a.low)):
        return False
    return a.high is None or not (x > a.high or (a.high_open and x == a.high))


def convert(owner: str, a: Arg, v: Value, diags: Diagnostics, names: tuple[str, ...] = ()):
    """The value of `v` for argument `a`, or None after reporting why it is not acceptable.

    `names` are the constants and parameters in scope, offered when a symbol looks misspelled.
    """

    if v.kind == "invalid":  # already reported where it was written
        return None

    def wrong(expected: str) -> None:
        guess = did_you_mean(v.text, names) if v.kind == "name" else ""
        diags.error(
            "E204", f"{owner}: {a.name} must be {expected}, got {describe(v)}{guess}", v.span
        )

    if a.type == "int":
        if v.kind != "number" or not isinstance(v.value, int):
            return wrong("an integer")
        return _check_number(owner, a, v, v.value, diags)
    if a.type == "float":
        if v.kind != "number" or not math.isfinite(v.value):
            return wrong("a number")
        return _check_number(owner, a, v, float(v.value), diags)
    if a.type == "bool":
        if v.kind != "bool":
            return wrong("true or false")
        return v.value
    if a.type == "choice":
        name = v.text if v.kind in ("name", "bool") else None
        if name is None:
            return wrong("one of " + ", ".join(a.choices))
        name = a.aliases.get(name, name)
        if name not in a.choices:
            valid = a.choices + tuple(a.aliases)
            diags.error(
                "E203",
                f"{owner}: unknown {a.name} '{v.text}'{did_you_mean(v.text, valid)}",
                v.span,
                "valid: " + ", ".join(a.choices),
            )
            return None
        return name
    if a.type in ("size2", "shape"):
        if v.kind == "number" and isinstance(v.value, int):
            dims = (v.value,) * (2 if a.type == "size2" else 1)
        elif v.kind == "shape":
            dims = v.value
        else:
            return wrong("an integer or a shape such as 3x3")
        if a.type == "size2" and len(dims) != 2:
            diags.error(
                "E204", f"{owner}: {a.name} must be an integer or HxW, got {v.text}", v.span
            )
            return None
        if any(d < 1 for d in dims):
            diags.error("E304", f"{owner}: {a.name} must be positive, got {v.text}", v.span)
            return None
        return tuple(dims)
    if a.type == "padding":
        if v.kind == "name" and v.text in ("valid", "same"):
            return (0, 0) if v.text == "valid" else "same"
        if v.kind == "number" and isinstance(v.value, int):
            if v.value < 0:
                diags.error("E205", f"{owner}: {a.name} must be >= 0, got {v.text}", v.span)
                return None
            return (v.value, v.value)
        if v.kind == "name":
            diags.error(
                "E203",
                f"{owner}: unknown {a.name} '{v.text}'{did_you_mean(v.text, ('valid', 'same'))}",
                v.span,
                "padding is an integer, `valid` or `same`",
            )
            return None
        return wrong("an integer, `valid` or `same`")
    raise AssertionError(f"unknown argument type {a.type}")


def _check_number(owner: str, a: Arg, v: Value, x, diags: Diagnostics):
    if a.size and x < 1:
        diags.error("E304", f"{owner}: {a.name} must be positive, got {v.text}", v.span)
        return None
    if not _in_range(a, x):
        bounds = _range_text(a)
        bounds = bounds if bounds[0] in "<>" else "in " + bounds
        diags.error("E205", f"{owner}: {a.name} must be {bounds}, got {v.text}", v.span)
        return None
    return x


def bind(
    owner: str,
    table: tuple[Arg, ...],
    args: tuple[Value, ...],
    kwargs: tuple,
    span: Span,
    diags: Diagnostics,
    names: tuple[str, ...] = (),
) -> dict | None:
    """Match a call's arguments to `table`; params with defaults, or None if anything was wrong.

    `kwargs` is a sequence of syntax.Kwarg whose values are already resolved.
    """
    ok = True
    params: dict = {}
    given: dict[str, Value] = {}
    positional = [a for a in table if a.positional]
    by_name = {a.name: a for a in table}
    if len(args) > len(positional):
        keywords = [a.name for a in table if not a.positional]
        takes = (
            f"at most {len(positional)} positional argument{'s' if len(positional) != 1 else ''}"
            if positional
            else "no positional arguments"
        )
        extra = args[len(positional)]
        diags.error(
            "E209",
            f"{owner} takes {takes}, got {len(args)}",
            extra.span,
            f"pass the rest as keywords: {', '.join(k + '=...' for k in keywords)}"
            if keywords
            else "",
        )
        ok = False
    for a, v in zip(positional, args, strict=False):
        given[a.name] = v
    for kw in kwargs:
        if kw.name not in by_name:
            diags.error(
                "E202",
                f"{owner}: unknown keyword '{kw.name}'{did_you_mean(kw.name, by_name)}",
                kw.span,
                ("valid: " + ", ".join(by_name)) if by_name else f"{owner} takes no arguments",
            )
            ok = False
        elif kw.name in given:
            diags.error("E207", f"{owner}: {kw.name} given twice", kw.span)
            ok = False
        else:
            given[kw.name] = kw.value
    for a in table:
        if a.name in given:
            params[a.name] = convert(owner, a, given[a.name], diags, names)
            ok = ok and params[a.name] is not None
        elif a.required:
            diags.error("E206", f"{owner}: missing argument '{a.name}'", span)
            ok = False
        else:
            params[a.name] = a.default
    return params if ok else None
