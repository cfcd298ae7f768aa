"""Argument tables and binding: positional and keyword arguments -> a params dict.

Every layer, loss, optimizer and train setting declares its arguments as a tuple of `Arg`;
`bind` turns a call's resolved values into params with defaults filled in, and generates every
argument error (unknown or duplicate keyword, missing argument, wrong type, out of range) from
the table, so no layer writes its own checks.
"""

from __future__ import annotations

import math
from dataclasses import field

from ..diagnostics import Diagnostics, Span, did_you_mean, plural
from ..grammar.syntax import Value
from ..records import record

REQUIRED = object()


@record
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


def range_text(a: Arg) -> str:
    if a.high is None:
        return f"{'>' if a.low_open else '>='} {_num(a.low)}"
    lo = "(" if a.low_open else "["
    hi = ")" if a.high_open else "]"
    low = "-inf" if a.low is None else _num(a.low)
    high = "inf" if a.high is None else _num(a.high)
    return f"{lo}{low}, {high}{hi}"


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(x)


def in_range(a: Arg, x: float) -> bool:
    if a.low is not None and (x < a.low or (a.low_open and x == a.low)):
        return False
    return a.high is None or not (x > a.high or (a.high_open and x == a.high))


@record
class _Given:
    """One argument value being converted: what the converters report errors against."""

    owner: str
    a: Arg
    v: Value
    diags: Diagnostics
    names: tuple[str, ...]

    def error(self, code: str, message: str, hint: str = "") -> None:
        self.diags.error(code, f"{self.owner}: {message}", self.v.span, hint)

    def wrong(self, expected: str) -> None:
        v = self.v
        guess = did_you_mean(v.text, self.names) if v.kind == "name" else ""
        self.error("E204", f"{self.a.name} must be {expected}, got {describe(v)}{guess}")


def convert(owner: str, a: Arg, v: Value, diags: Diagnostics, names: tuple[str, ...] = ()):
    """The value of `v` for argument `a`, or None after reporting why it is not acceptable.

    `names` are the constants and parameters in scope, offered when a symbol looks misspelled.
    """
    if v.kind == "invalid":  # already reported where it was written
        return None
    if a.type not in _CONVERTERS:
        raise AssertionError(f"unknown argument type {a.type}")
    return _CONVERTERS[a.type](_Given(owner, a, v, diags, names))


def _int(g: _Given):
    if g.v.kind != "number" or not isinstance(g.v.value, int):
        return g.wrong("an integer")
    return _check_number(g, g.v.value)


def _float(g: _Given):
    if g.v.kind != "number" or not math.isfinite(g.v.value):
        return g.wrong("a number")
    return _check_number(g, float(g.v.value))


def _bool(g: _Given):
    return g.v.value if g.v.kind == "bool" else g.wrong("true or false")


def _choice(g: _Given):
    a, v = g.a, g.v
    if v.kind not in ("name", "bool"):
        return g.wrong("one of " + ", ".join(a.choices))
    name = a.aliases.get(v.text, v.text)
    if name not in a.choices:
        valid = a.choices + tuple(a.aliases)
        g.error(
            "E203",
            f"unknown {a.name} '{v.text}'{did_you_mean(v.text, valid)}",
            "valid: " + ", ".join(a.choices),
        )
        return None
    return name


def _dims(g: _Given):
    """size2 (an int or HxW) and shape (an int or any shape)."""
    a, v = g.a, g.v
    if v.kind == "number" and isinstance(v.value, int):
        dims = (v.value,) * (2 if a.type == "size2" else 1)
    elif v.kind == "shape":
        dims = v.value
    else:
        return g.wrong("an integer or a shape such as 3x3")
    if a.type == "size2" and len(dims) != 2:
        return g.error("E204", f"{a.name} must be an integer or HxW, got {v.text}")
    if any(d < 1 for d in dims):
        return g.error("E304", f"{a.name} must be positive, got {v.text}")
    return tuple(dims)


def _padding(g: _Given):
    a, v = g.a, g.v
    if v.kind == "name" and v.text in ("valid", "same"):
        return (0, 0) if v.text == "valid" else "same"
    if v.kind == "number" and isinstance(v.value, int):
        if v.value < 0:
            return g.error("E205", f"{a.name} must be >= 0, got {v.text}")
        return (v.value, v.value)
    if v.kind == "name":
        return g.error(
            "E203",
            f"unknown {a.name} '{v.text}'{did_you_mean(v.text, ('valid', 'same'))}",
            "padding is an integer, `valid` or `same`",
        )
    return g.wrong("an integer, `valid` or `same`")


_CONVERTERS = {
    "int": _int,
    "float": _float,
    "bool": _bool,
    "choice": _choice,
    "size2": _dims,
    "shape": _dims,
    "padding": _padding,
}


def _check_number(g: _Given, x):
    a, v = g.a, g.v
    if a.size and x < 1:
        return g.error("E304", f"{a.name} must be positive, got {v.text}")
    if not in_range(a, x):
        bounds = range_text(a)
        bounds = bounds if bounds[0] in "<>" else "in " + bounds
        return g.error("E205", f"{a.name} must be {bounds}, got {v.text}")
    return x


def match(
    owner: str,
    positional: list[str],
    keywords: list[str],
    args: tuple[Value, ...],
    kwargs: tuple,
    diags: Diagnostics,
    too_many: tuple[str, str],
    listing: str,
) -> tuple[dict[str, Value], bool]:
    """Values by parameter name: positional ones in order, then keywords. The one matching rule
    of layer, setting and block calls. Reports too many positional values (E209, with the
    caller's `too_many` (message, hint)), an unknown keyword (E202, the valid names after
    `listing`) and a name given twice (E207); the bool is False if any of these happened."""
    ok = True
    given: dict[str, Value] = {}
    if len(args) > len(positional):
        diags.error("E209", too_many[0], args[len(positional)].span, too_many[1])
        ok = False
    given.update(zip(positional, args, strict=False))
    for kw in kwargs:
        if kw.name not in keywords:
            diags.error(
                "E202",
                f"{owner}: unknown keyword '{kw.name}'{did_you_mean(kw.name, keywords)}",
                kw.span,
                f"{listing}: " + ", ".join(keywords) if keywords else f"{owner} takes no arguments",
            )
            ok = False
        elif kw.name in given:
            diags.error("E207", f"{owner}: {kw.name} given twice", kw.span)
            ok = False
        else:
            given[kw.name] = kw.value
    return given, ok


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
    positional = [a.name for a in table if a.positional]
    keywords = [a.name for a in table if not a.positional]
    takes = f"at most {plural(len(positional), 'positional argument')}"
    hint = f"pass the rest as keywords: {', '.join(k + '=...' for k in keywords)}"
    too_many = (
        f"{owner} takes {takes if positional else 'no positional arguments'}, got {len(args)}",
        hint if keywords else "",
    )
    all_names = [a.name for a in table]
    given, ok = match(owner, positional, all_names, args, kwargs, diags, too_many, "valid")
    params: dict = {}
    missing = [a.name for a in table if a.required and a.name not in given]
    for a in table:
        if a.name in given:
            params[a.name] = convert(owner, a, given[a.name], diags, names)
            ok = ok and params[a.name] is not None
        elif not a.required:
            params[a.name] = a.default
    if missing:  # one error for the call, naming every missing argument (`embedding`: 2)
        names_ = ", ".join(f"'{m}'" for m in missing)
        diags.error("E206", f"{owner}: missing argument{'s' * (len(missing) > 1)} {names_}", span)
        ok = False
    return params if ok else None
