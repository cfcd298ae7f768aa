"""The limits of LANGUAGE.md §7, checked before anything large or recursive is built.

Each is overridable: the CLI's --max-params, --max-layers, --max-depth, --max-file-size and
--max-memory, or `limits=Limits(...)` (and `max_params=`) in Python.
"""

from __future__ import annotations

from .records import record

# The deepest nesting every backend can run. The front end and the NumPy backend manage 200
# and more, but torch calls a nested residual through six Python frames per level (module
# call, Sequential, Residual), so its forward exceeds Python's recursion limit of 1000 at about
# 120 levels; 100 leaves room for the caller's own frames (a test runner, a notebook).
DEPTH_CEILING = 100


@record
class Limits:
    """params: trainable parameters; layers: after expansion; depth: braces, block calls and
    repeats nested; file_bytes: the spec file's size; memory: the estimated activation memory
    of one training batch, in bytes (see memory.py)."""

    params: int = 100_000_000
    layers: int = 10_000
    depth: int = 64
    file_bytes: int = 1 << 20
    memory: int = 8 << 30

    def __post_init__(self):
        for name in ("params", "layers", "depth", "file_bytes", "memory"):
            if getattr(self, name) < 1:
                raise ValueError(f"limit {name} must be at least 1")
        if self.depth > DEPTH_CEILING:
            raise ValueError(f"limit depth can be at most {DEPTH_CEILING}")


DEFAULT = Limits()


def size_text(n: int) -> str:
    """8 GiB, 1 MiB, 512 KiB, 1000 bytes: a size limit as people write it."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n % size == 0:
            return f"{n // size} {unit}"
    return f"{n:,} bytes"
