"""`@record`: a frozen dataclass whose creation compiles half the code `@dataclass` compiles.

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
slower (benchmarks/README.md)."""

from __future__ import annotations

import dataclasses
from dataclasses import field
from operator import attrgetter

try:  # tells type checkers and editors that a record is a frozen dataclass
    from typing import dataclass_transform
except ImportError:  # Python 3.10

    def dataclass_transform(**kwargs):
        return lambda decorator: decorator


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def record(cls: type) -> type:
    """Make `cls` a frozen dataclass (see the module's docstring); methods it defines stay."""
    # dataclass() compiles __init__ (as fast per instance as Python makes one) and the frozen
    # __setattr__/__delattr__; the three comparison and printing methods are shared closures.
    cls = dataclasses.dataclass(frozen=True, repr=False, eq=False)(cls)
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
