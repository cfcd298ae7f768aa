"""The data section's table (LANGUAGE.md §11): how a table's columns become features and targets.

`bind_data` turns a `data { ... }` body into a plain, JSON-serialisable dict with every default
filled in, which goes into the IR as `data`; training/encoding.py applies it to a table. Names
in the section are column names or values as written, never constants.
"""

from __future__ import annotations

from ..diagnostics import Diagnostics, Span
from ..grammar.syntax import Call, Value
from ..layers.args import Arg, bind
from .settings import known_setting

MISSING = ("error", "mean", "median", "zero", "drop")
DELIMITERS = {"auto": "auto", ",": ",", ";": ";", "\t": "\t", "|": "|"}
UNKNOWN = ("error", "ignore")

# Settings whose arguments are a list of column names; `categorical` is the one setting that
# may appear several times (once per column).
_COLUMNS = ("target", "drop", "keep")
SETTINGS: dict[str, str] = {
    "target": "column names (several: multi-output regression)",
    "drop": "column names to ignore",
    "keep": "column names copied through to predict's output",
    "categorical": "NAME=[v1, v2, ...] [unknown=ignore]",
    "labels": "[v1, v2, ...] or auto",
    "missing": "error | mean | median | zero | drop",
    "delimiter": 'auto | "," | ";" | "\\t" | "|"',
}


def defaults() -> dict:
    """The data settings of an empty `data { }` section."""
    return {
        "target": [],
        "drop": [],
        "keep": [],
        "categorical": {},
        "labels": None,
        "missing": "error",
        "delimiter": "auto",
    }


def bind_data(calls: list[Call] | None, diags: Diagnostics) -> dict | None:
    """Bind a data section's calls (None: the spec has none, and the IR gets none)."""
    if calls is None:
        return None
    out = defaults()
    seen: dict[str, Span] = {}
    for call in calls:
        if not known_setting("data", call, SETTINGS, seen, diags, ("categorical",)):
            continue
        if call.name in _COLUMNS:
            value = _columns(call, diags)
        elif call.name == "categorical":
            _categorical(call, out["categorical"], diags)
            continue
        elif call.name == "labels":
            value = _labels(call, diags)
        elif call.name == "missing":
            arg = Arg("strategy", "choice", positional=True, choices=MISSING)
            params = bind("missing", (arg,), call.args, call.kwargs, call.span, diags)
            value = None if params is None else params["strategy"]
        else:
            value = _delimiter(call, diags)
        if value is not None:
            out[call.name] = value
    _check_overlaps(out, calls, diags)
    return out


def _no_kwargs(call: Call, diags: Diagnostics) -> None:
    for kw in call.kwargs:
        diags.error("E202", f"{call.name}: unknown keyword '{kw.name}'", kw.span)


def _name(v: Value, owner: str, diags: Diagnostics) -> str | None:
    """A column name: a name, or a string for names that are not identifiers."""
    if v.kind in ("name", "string"):
        return str(v.value)
    if v.kind != "invalid":
        diags.error("E204", f"{owner}: expected a column name, got {v.text}", v.span)
    return None


def _columns(call: Call, diags: Diagnostics) -> list[str] | None:
    _no_kwargs(call, diags)
    if not call.args:
        diags.error("E206", f"{call.name}: missing column name", call.span, SETTINGS[call.name])
        return None
    names: list[str] = []
    for v in call.args:
        name = _name(v, call.name, diags)
        if name is None:
            continue
        if name in names:
            diags.error("E207", f"{call.name}: column '{name}' given twice", v.span)
        else:
            names.append(name)
    return names


def _item(v: Value, owner: str, diags: Diagnostics):
    """A list item as a JSON value: numbers stay numbers, names and strings are strings."""
    if v.kind in ("name", "string"):
        return str(v.value)
    if v.kind == "number":
        return v.value
    if v.kind == "bool":
        return v.text
    if v.kind != "invalid":
        diags.error("E204", f"{owner}: list items are names, numbers or strings", v.span)
    return None


def _list(v: Value, owner: str, diags: Diagnostics) -> list | None:
    if v.kind != "list":
        diags.error("E204", f"{owner}: expected a list such as [a, b, c], got {v.text}", v.span)
        return None
    items = [_item(x, owner, diags) for x in v.value]
    if None in items:
        return None
    if not items:
        diags.error("E205", f"{owner}: the list is empty", v.span)
        return None
    keys = [value_key(x) for x in items]
    for i, key in enumerate(keys):
        if key in keys[:i]:
            diags.error("E207", f"{owner}: value {v.value[i].text} given twice", v.value[i].span)
            return None
    return items


def value_key(x) -> tuple:
    """How a listed value and a CSV cell are compared: numerically when both are numbers
    (`3` matches `3.0`), else as text without surrounding blanks."""
    text = str(x).strip()
    try:
        return ("number", float(text))
    except ValueError:
        return ("text", text)


def _categorical(call: Call, table: dict, diags: Diagnostics) -> None:
    for v in call.args:
        diags.error(
            "E204",
            f"categorical: write NAME=[v1, v2, ...], got {v.text}",
            v.span,
            SETTINGS["categorical"],
        )
    unknown = "error"
    columns = []
    for kw in call.kwargs:
        if kw.name == "unknown":
            arg = Arg("unknown", "choice", choices=UNKNOWN)
            params = bind("categorical", (arg,), (), (kw,), call.span, diags)
            unknown = unknown if params is None else params["unknown"]
        else:
            columns.append(kw)
    if len(columns) != 1:
        diags.error(
            "E206",
            f"categorical: expected one column NAME=[...], got {len(columns)}",
            call.span,
            "write one `categorical` line per column",
        )
        return
    kw = columns[0]
    values = _list(kw.value, f"categorical {kw.name}", diags)
    if kw.name in table:
        diags.error("E207", f"categorical: column '{kw.name}' given twice", kw.span)
    elif values is not None:
        table[kw.name] = {"values": values, "unknown": unknown}


def _labels(call: Call, diags: Diagnostics):
    _no_kwargs(call, diags)
    if len(call.args) != 1:
        diags.error("E206", "labels: expected [v1, v2, ...] or auto", call.span)
        return None
    v = call.args[0]
    if v.kind == "name" and v.text == "auto":
        return "auto"
    return _list(v, "labels", diags)


def _delimiter(call: Call, diags: Diagnostics) -> str | None:
    _no_kwargs(call, diags)
    v = call.args[0] if len(call.args) == 1 else None
    if v is not None and v.kind in ("name", "string") and v.value in DELIMITERS:
        return DELIMITERS[v.value]
    where = v.span if v is not None else call.span
    got = v.text if v is not None else f"{len(call.args)} values"
    diags.error("E203", f"delimiter: expected {SETTINGS['delimiter']}, got {got}", where)
    return None


def _check_overlaps(out: dict, calls: list[Call], diags: Diagnostics) -> None:
    """A column that is both a target and a feature (or dropped) is a contradiction."""
    spans = {c.name: c.span for c in calls}
    target = set(out["target"])
    for name in ("drop", "categorical"):
        both = sorted(target & set(out[name]))
        if both:
            diags.error("E214", f"column '{both[0]}' is both a target and in `{name}`", spans[name])
    if out["labels"] is not None and len(out["target"]) > 1:
        diags.error("E214", "labels need a single target column", spans["labels"])
