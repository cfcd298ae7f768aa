"""`@record`: a frozen dataclass made without running dataclass() or compiling code at import.

A record is declared and behaves as `@dataclass(frozen=True)`: annotated fields with defaults
or `field(...)`, a docstring, methods, `__post_init__`. It is a dataclass to every reader:
`dataclasses.fields`, `replace`, `asdict` and `is_dataclass` work; assigning a field raises
FrozenInstanceError; instances are equal when their class and compared fields are, hash from
the same fields (to the same values), and print as a dataclass prints. tests/test_records.py
holds a record and a dataclass side by side to that end.

Why not `@dataclass(frozen=True)` itself: `stackspec check` creates about thirty such classes,
and dataclass() compiles the source of six methods for each (stored as bytecode here before,
but its per-class work stayed: reading every annotation against the ClassVar and InitVar
patterns, writing those sources, setting each method). Doing without it took `check` from
400.1 M to 389.4 M instructions, against 280 M for importing lark and click
(benchmarks/README.md, session 21). A record instead builds the same `Field` objects and
dataclass attributes directly, shares one closure per method kind across classes, and takes
`__init__` (no generic one is as fast per instance: one taking `*args, **kwargs` made parsing a
10,000-layer spec 1.4x slower) from `_records_code.py`, where `python -m stackspec.records`
writes the source of every record's `__init__` so that Python keeps it as bytecode like any
module. An `__init__` not found there (a new or changed record) is compiled as the class is
made, so a stale file costs time, never behaviour; a test keeps it current.

What a record refuses, rather than half-support: `InitVar` and `KW_ONLY` fields. A
`ClassVar[...]` annotation is a class attribute, as in a dataclass."""

from __future__ import annotations

import dataclasses
from dataclasses import MISSING, Field, FrozenInstanceError, field
from operator import attrgetter
from types import FunctionType

try:
    from ._records_code import CODE
except ImportError:  # being regenerated
    CODE = {}

try:  # tells type checkers and editors that a record is a frozen dataclass
    from typing import dataclass_transform
except ImportError:  # Python 3.10

    def dataclass_transform(**kwargs):
        return lambda decorator: decorator


# What dataclass(frozen=True, repr=False, eq=False) stores as __dataclass_params__, made once.
_PARAMS = dataclasses.dataclass(frozen=True, repr=False, eq=False)(
    type("_Params", (), {"__doc__": "-"})
).__dataclass_params__
_FIELD = dataclasses._FIELD  # the kind dataclasses.fields() lists (the others are pseudo-fields)
_HAS_FACTORY = dataclasses._HAS_DEFAULT_FACTORY  # the sentinel dataclass's __init__ uses
TEXTS: list[str] = []  # the source of every record's __init__, for write_code


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def record(cls: type) -> type:
    """Make `cls` a frozen dataclass (see the module's docstring); methods it defines stay."""
    fields = _fields(cls)
    cls.__dataclass_fields__ = {f.name: f for f in fields}
    cls.__dataclass_params__ = _PARAMS
    names = tuple(f.name for f in fields)
    compared = _getter([f.name for f in fields if f.compare])
    hashed = _getter([f.name for f in fields if (f.compare if f.hash is None else f.hash)])

    def __eq__(self, other):
        if other.__class__ is self.__class__:
            return compared(self) == compared(other)
        return NotImplemented

    def __hash__(self):
        return hash(hashed(self))

    def __setattr__(self, name, value):
        if type(self) is cls or name in names:
            raise FrozenInstanceError(f"cannot assign to field {name!r}")
        super(cls, self).__setattr__(name, value)

    def __delattr__(self, name):
        if type(self) is cls or name in names:
            raise FrozenInstanceError(f"cannot delete field {name!r}")
        super(cls, self).__delattr__(name)

    methods = {
        "__init__": _init(cls, fields),
        "__setattr__": __setattr__,
        "__delattr__": __delattr__,
        "__repr__": _repr(tuple(f.name for f in fields if f.repr)),
        "__eq__": __eq__,
        "__hash__": __hash__,
    }
    for name, method in methods.items():
        if name in ("__setattr__", "__delattr__") and name in cls.__dict__:
            raise TypeError(f"cannot overwrite attribute {name} in class {cls.__name__}")
        if cls.__dict__.get(name) is None:  # None: the __hash__ that defining __eq__ implies
            method.__qualname__ = f"{cls.__qualname__}.{name}"
            setattr(cls, name, method)
    if "__match_args__" not in cls.__dict__:
        cls.__match_args__ = tuple(f.name for f in fields if f.init)
    return cls


def _fields(cls: type) -> list[Field]:
    """The class's fields in dataclass order (a base record's first), as dataclass makes them."""
    fields: dict[str, Field] = {}
    for base in cls.__mro__[-1:0:-1]:
        fields.update(getattr(base, "__dataclass_fields__", {}))
    for name, type_ in cls.__dict__.get("__annotations__", {}).items():
        text = type_ if isinstance(type_, str) else _kind(type_)
        if text.startswith(("ClassVar", "typing.ClassVar")):
            continue
        if text.startswith(("InitVar", "dataclasses.InitVar", "KW_ONLY", "dataclasses.KW_ONLY")):
            raise TypeError(f"{cls.__name__}.{name}: a record has no {text.split('[')[0]} fields")
        default = cls.__dict__.get(name, MISSING)
        f = default if isinstance(default, Field) else field(default=default)
        f.name, f.type, f._field_type = name, type_, _FIELD
        if f.kw_only is MISSING:
            f.kw_only = False
        if f.default is not MISSING and f.default.__class__.__hash__ is None:
            raise ValueError(
                f"mutable default {type(f.default)} for field {name} is not allowed: "
                "use default_factory"
            )
        # As dataclass leaves the class: a plain default stays a class attribute, a field()
        # without one goes.
        if isinstance(default, Field):
            if f.default is MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, f.default)
        fields[name] = f
    return list(fields.values())


def _kind(annotation) -> str:
    """'ClassVar', 'InitVar', 'KW_ONLY' or '' for an annotation that is an object, not text
    (a module without `from __future__ import annotations`)."""
    import typing  # imported already by whoever wrote such an annotation

    if isinstance(annotation, dataclasses.InitVar) or annotation is dataclasses.InitVar:
        return "InitVar"
    if annotation is dataclasses.KW_ONLY:
        return "KW_ONLY"
    return "ClassVar" if typing.get_origin(annotation) is typing.ClassVar else ""


def _init(cls: type, fields: list[Field]):
    """The record's __init__, from _records_code.py when its source is stored there."""
    params, body, values = [], [], {"_set": object.__setattr__, "_HAS_FACTORY": _HAS_FACTORY}
    seen_default = False
    for f in fields:
        if f.default is not MISSING:
            values[f"_dflt_{f.name}"] = f.default
            default = f"=_dflt_{f.name}"
        elif f.default_factory is not MISSING:
            values[f"_dflt_{f.name}"] = f.default_factory
            default = "=_HAS_FACTORY"
        else:
            default = ""
        if f.init:
            if default:
                seen_default = True
            elif seen_default:
                raise TypeError(f"non-default argument {f.name!r} follows default argument")
            params.append(f.name + default)
        if f.default_factory is not MISSING:
            value = f"_dflt_{f.name}()"
            if f.init:
                value = f"{value} if {f.name} is _HAS_FACTORY else {f.name}"
        elif f.init:
            value = f.name
        elif f.default is not MISSING:
            value = f"_dflt_{f.name}"
        else:
            continue  # init=False without a default: unset, as dataclass leaves it
        body.append(f"  _set(self,{f.name!r},{value})")
    if hasattr(cls, "__post_init__"):
        body.append("  self.__post_init__()")
    outer = ", ".join(values)
    text = (
        f"def __create_fn__({outer}):\n"
        f" def __init__(self{''.join(', ' + p for p in params)}):\n"
        + "\n".join(body or ["  pass"])
        + "\n return __init__"
    )
    TEXTS.append(text)
    code = CODE.get(text)
    if code is None:
        namespace: dict = {}
        exec(text, {}, namespace)  # a record not yet in _records_code.py
        create = namespace["__create_fn__"]
    else:
        create = FunctionType(code, {})
    return create(*values.values())


def _getter(names: list[str]):
    """obj -> the tuple of its attributes `names` (attrgetter gives one name's value bare)."""
    if len(names) == 1:
        one = attrgetter(names[0])
        return lambda obj: (one(obj),)
    return attrgetter(*names) if names else lambda obj: ()


def _repr(names: tuple[str, ...]):
    def __repr__(self):
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
        return f"{self.__class__.__qualname__}({shown})"

    return __repr__


def write_code(path: str | None = None) -> None:
    """Rewrite `_records_code.py` with the text of every record in the package."""
    import contextlib
    import importlib
    import os
    import pkgutil

    here = os.path.dirname(__file__)
    for module in pkgutil.walk_packages([here], "stackspec."):
        if not module.name.endswith("__main__"):
            # Records live in the core modules; a backend whose extra is missing has none.
            with contextlib.suppress(ImportError):
                importlib.import_module(module.name)
    path = path or os.path.join(here, "_records_code.py")
    lines = [
        "# Generated by `python -m stackspec.records`: the __init__ of each record,",
        "# compiled with the package (see records.py); do not edit.",
        "# fmt: off",
        "CODE = {}",
    ]
    for text in sorted(set(TEXTS)):
        lines += ["", text, f"CODE[{text!r}] = __create_fn__.__code__"]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    from stackspec import records  # this file runs as __main__; the package's copy saw the records

    records.write_code()
