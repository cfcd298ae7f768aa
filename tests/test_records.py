"""`@record` behaves as `@dataclass(frozen=True)`: each check runs on a record and on the same
class made by dataclass, and the two must agree (results, or the type of exception raised)."""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar

import pytest

from stackspec.records import record


def _point(decorate):
    @decorate
    class Point:
        """Fields of every kind: required, a default, a default_factory, one left out of eq."""

        x: int
        y: float = 0.0
        tags: list = field(default_factory=list)
        note: str = field(default="", compare=False, repr=False)

        def norm(self) -> float:
            return abs(self.x) + abs(self.y)

    return Point


R, D = _point(record), _point(dataclass(frozen=True))


def _outcome(fn):
    """fn's result, or the type of the exception it raised (messages word the call differently)."""
    try:
        return "ok", fn()
    except Exception as e:  # noqa: BLE001 - the exception is the outcome compared
        return "raised", type(e)


CALLS = [
    ((1,), {}),
    ((1, 2.0), {}),
    ((1, 2.0, [3], "n"), {}),
    ((), {"x": 1, "note": "n"}),
    ((1,), {"tags": [1]}),
    ((), {}),
    ((1, 2, [], "", 5), {}),
    ((1,), {"x": 2}),
    ((1,), {"z": 2}),
    ((), {"y": 1.0}),
]


@pytest.mark.parametrize(("args", "kwargs"), CALLS)
def test_construction_and_errors_match_dataclass(args, kwargs):
    got = _outcome(lambda: repr(R(*args, **kwargs)))
    want = _outcome(lambda: repr(D(*args, **kwargs)))
    assert got == want


def test_eq_hash_repr_match_dataclass():
    pairs = [((1, 2.0, [], "a"), (1, 2.0, [], "b")), ((1, 2.0), (1, 3.0)), ((1,), (1.0,))]
    for a, b in pairs:
        assert (R(*a) == R(*b)) == (D(*a) == D(*b))
        assert (R(*a) != R(*b)) == (D(*a) != D(*b))
    assert R(1) != D(1) and R(1) != (1, 0.0, [])  # another class is never equal
    assert hash(R(1, 2.0, (), "a")) == hash(R(1, 2.0, (), "b"))  # note is not compared
    assert _outcome(lambda: hash(R(1))) == _outcome(lambda: hash(D(1)))  # a list: unhashable
    assert repr(R(1, tags=[2])) == repr(D(1, tags=[2]))


def test_frozen():
    r = R(1)
    for change in (lambda o: setattr(o, "x", 2), lambda o: delattr(o, "x")):
        with pytest.raises(dataclasses.FrozenInstanceError):
            change(r)
    assert r.x == 1


def test_dataclass_functions_and_copies():
    r = R(1, 2.0, [3], "n")
    assert dataclasses.is_dataclass(r)
    assert [f.name for f in dataclasses.fields(r)] == ["x", "y", "tags", "note"]
    assert dataclasses.replace(r, y=5.0) == R(1, 5.0, [3])
    assert dataclasses.asdict(r) == dataclasses.asdict(D(1, 2.0, [3], "n"))
    assert R.__match_args__ == D.__match_args__
    for same in (copy.copy(r), copy.deepcopy(r)):
        assert same == r and same.note == "n"
    assert R(1).tags is not R(1).tags  # a new list per instance
    assert r.norm() == 3.0


def test_methods_the_class_defines_stay():
    @record
    class Named:
        """Equal by name alone."""

        name: str
        line: int

        def __eq__(self, other):
            return isinstance(other, Named) and self.name == other.name

        def __hash__(self):
            return hash(self.name)

    assert Named("a", 1) == Named("a", 2) and hash(Named("a", 1)) == hash("a")


def test_post_init_runs():
    @record
    class Positive:
        """A number that must be positive."""

        n: int = 1

        def __post_init__(self):
            if self.n < 1:
                raise ValueError("n must be positive")

    assert Positive().n == 1
    with pytest.raises(ValueError, match="positive"):
        Positive(0)


def test_stored_code_is_current(tmp_path):
    """`python -m stackspec.records` regenerates _records_code.py after a record changes."""
    import subprocess
    import sys
    from pathlib import Path

    import stackspec.records

    fresh = tmp_path / "code.py"
    write = f"from stackspec import records; records.write_code({str(fresh)!r})"
    subprocess.run([sys.executable, "-c", write], check=True)
    stored = Path(stackspec.records.__file__).with_name("_records_code.py")
    assert fresh.read_text(encoding="utf-8") == stored.read_text(encoding="utf-8")


def test_records_use_the_stored_code():
    from stackspec.diagnostics import Span

    assert Span.__init__.__code__.co_filename.endswith("_records_code.py")
    for method in (Span.__init__, Span.__setattr__, Span.__delattr__, Span.__repr__):
        assert method.__qualname__ == f"Span.{method.__name__}"


def test_init_false_class_vars_and_refusals_match_dataclass():
    def make(decorate):
        @decorate
        class Counted:
            """A ClassVar is no field; an init=False field takes its default."""

            limit: ClassVar[int] = 3
            x: int
            seen: int = field(default=0, init=False)

        return Counted

    r, d = make(record), make(dataclass(frozen=True))
    assert [f.name for f in dataclasses.fields(r)] == [f.name for f in dataclasses.fields(d)]
    assert repr(r(1)) == repr(d(1)) and r.limit == d.limit == 3
    assert _outcome(lambda: r(1, 2)) == _outcome(lambda: d(1, 2))
    for decorate in (record, dataclass(frozen=True)):
        with pytest.raises(ValueError, match="mutable default"):

            @decorate
            class Bad:
                """A list default would be shared by every instance."""

                items: list = []  # noqa: RUF012 - the mistake under test

        with pytest.raises(TypeError, match="non-default argument"):

            @decorate
            class Order:
                """A required field after one with a default."""

                a: int = 0
                b: int


def test_a_record_subclass_of_a_record():
    @record
    class Base:
        """Fields come first from the base."""

        a: int

    @record
    class Child(Base):
        """Then its own."""

        b: int = 2

    c = Child(1)
    assert [f.name for f in dataclasses.fields(c)] == ["a", "b"]
    assert repr(c).endswith("Child(a=1, b=2)")
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.a = 3


def test_annotations_that_are_objects_not_text():
    """A module without `from __future__ import annotations` gives the types themselves."""
    annotations = {"limit": ClassVar[int], "x": int}
    counted = record(type("Counted", (), {"__annotations__": annotations, "limit": 3}))
    assert [f.name for f in dataclasses.fields(counted)] == ["x"] and counted.limit == 3
    for refused in (dataclasses.InitVar[int], dataclasses.KW_ONLY):
        with pytest.raises(TypeError, match="a record has no"):
            record(type("Bad", (), {"__annotations__": {"x": refused}}))
