"""`@record`: a frozen dataclass made without compiling any code as the class is created.

A record is declared and behaves as `@dataclass(frozen=True)`: annotated fields with defaults
or `field(...)`, a docstring, methods, `__post_init__`. It is a dataclass to every reader:
`dataclasses.fields`, `replace`, `asdict` and `is_dataclass` work; assigning a field raises
FrozenInstanceError; instances are equal when their class and compared fields are, hash from
the same fields (to the same values), and print as a dataclass prints.

Why not `@dataclass(frozen=True)` itself: on Python 3.11 it writes the source of six methods for
each class and compiles each with exec() as the class is created. The front end defines about
thirty such classes, and compiling their methods was a third of what `stackspec check` does
beyond importing lark and click (benchmarks/README.md, Front end). A record lets dataclass
compile only `__init__` and the frozen `__setattr__`/`__delattr__`; `__eq__`, `__hash__` and
`__repr__` are the same few closures for every class. A generated `__init__` stays because no
generic one is as fast: one taking `*args, **kwargs` made parsing a 10,000-layer spec 1.4x
slower (benchmarks/README.md).

Nor are those three compiled at start-up: dataclass writes their source and exec()s it, and
compiling it was still ~50 M instructions of `stackspec check`. `_records_code.py` holds the
same source, written by `python -m stackspec.records`, so Python keeps it as bytecode like any
module; while a record is made, dataclass's exec() of a text found there takes the function
from it instead of compiling. A text not found there (a new or changed record, another Python
version) is exec()d as usual, so a stale file costs time, never behaviour; a test keeps it
current."""

from __future__ import annotations

import builtins
import dataclasses
from dataclasses import field
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


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def record(cls: type) -> type:
    """Make `cls` a frozen dataclass (see the module's docstring); methods it defines stay."""
    # dataclass() writes __init__ (as fast per instance as Python makes one) and the frozen
    # __setattr__/__delattr__, taken from _records_code.py by _exec; the three comparison and
    # printing methods are shared closures.
    dataclasses.exec = _exec  # a module global before the builtin, read only by dataclass
    try:
        cls = dataclasses.dataclass(frozen=True, repr=False, eq=False)(cls)
    finally:  # pop: a record made at the same time in another thread may have removed it
        dataclasses.__dict__.pop("exec", None)
    fields = dataclasses.fields(cls)
    compared = _getter([f.name for f in fields if f.compare])
    hashed = _getter([f.name for f in fields if (f.compare if f.hash is None else f.hash)])

    def __eq__(self, other):
        if other.__class__ is self.__class__:
            return compared(self) == compared(other)
        return NotImplemented

    def __hash__(self):
        return hash(hashed(self))

    methods = {
        "__repr__": _repr(tuple(f.name for f in fields if f.repr)),
        "__eq__": __eq__,
        "__hash__": __hash__,
    }
    for name, method in methods.items():
        if cls.__dict__.get(name) is None:  # None: the __hash__ that defining __eq__ implies
            setattr(cls, name, method)
    return cls


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


TEXTS: list[str] = []  # every text dataclass exec()d for a record, for write_code


def _exec(text, globals=None, locals=None):
    """dataclass's exec(text, globals, ns) of one `def __create_fn__`, from bytecode if stored."""
    TEXTS.append(text)
    code = CODE.get(text)
    if code is None or locals is None:
        return builtins.exec(text, globals, locals)
    locals["__create_fn__"] = FunctionType(code, globals)  # what exec() would bind, compiled


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
        "# Generated by `python -m stackspec.records`: the methods dataclass writes for each",
        "# record, compiled with the package (see records.py); do not edit.",
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
