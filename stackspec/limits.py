"""The limits of LANGUAGE.md §7, checked before anything large or recursive is built.

Each is overridable: the CLI's --max-params, --max-layers, --max-depth and --max-file-size, or
`limits=Limits(...)` (and `max_params=`) in Python.
"""

from __future__ import annotations

from dataclasses import dataclass

# Nesting is walked recursively (a few Python frames per level), so even a raised depth limit
# stays far below Python's recursion limit of 1000.
DEPTH_CEILING = 200


@dataclass(frozen=True)
class Limits:
    """params: trainable parameters; layers: after expansion; depth: braces, block calls and
    repeats nested; file_bytes: the spec file's size."""

    params: int = 100_000_000
    layers: int = 10_000
    depth: int = 64
    file_bytes: int = 1 << 20

    def __post_init__(self):
        for name in ("params", "layers", "depth", "file_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"limit {name} must be at least 1")
        if self.depth > DEPTH_CEILING:
            raise ValueError(f"limit depth can be at most {DEPTH_CEILING}")


DEFAULT = Limits()


def size_text(n: int) -> str:
    """1 MiB, 512 KiB, 1000 bytes: the file-size limit as people write it."""
    for unit, size in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n % size == 0:
            return f"{n // size} {unit}"
    return f"{n:,} bytes"
