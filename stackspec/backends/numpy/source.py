"""Standalone NumPy source: the backend's own evaluation functions, copied from where they live.

Each node becomes the calls that the NumPy backend makes in evaluation mode (layers.eval_calls),
and the source of the functions they call is copied from their modules (backends/numpy/*.py,
numerics.py), with the module-level functions and constants those read, each module's in its
order: the emitted model computes what the compiled one computes. A copied definition may read
only `np`, builtins and other definitions it brings along; anything else is a CopyError when
the source is built, so the emitted module needs no import but numpy's.
"""

from __future__ import annotations

import ast
import builtins
import functools
import inspect
import symtable
import sys
from typing import NamedTuple

import numpy

from ..source import comment, describe, header
from .layers import INFERENCE, Tensor, eval_calls, join_axis

# Builtins that would reach other modules, files or code than the copied source shows.
FORBIDDEN_BUILTINS = frozenset({"__import__", "compile", "eval", "exec", "open"})
# What the module around the copied definitions defines; a copy must not redefine it.
RESERVED = frozenset({"np", "load_file", "SPEC_FILE", "INPUT_SHAPE", "MODEL_HASH", "SHAPES"})
RESERVED |= {"read_weights", "Model", "load"}


class CopyError(Exception):
    """A definition that the emitted source cannot copy: a bug in a backend, not in a spec."""


class Definition(NamedTuple):
    module: str
    position: int
    name: str
    source: str


@functools.cache
def _statements(module_name: str) -> dict[str, tuple[int, ast.stmt, str]]:
    """Each module-level function and constant of a module -> (position, statement, source)."""
    source = inspect.getsource(sys.modules[module_name])
    out = {}
    for i, stmt in enumerate(ast.parse(source).body):
        if isinstance(stmt, ast.FunctionDef):
            names = [stmt.name]
        elif isinstance(stmt, ast.Assign):
            names = [t.id for t in stmt.targets if isinstance(t, ast.Name)]
        else:
            continue
        for name in names:
            out[name] = (i, stmt, ast.get_source_segment(source, stmt))
    return out


def _reads(source: str) -> set[str]:
    """The global names that a statement reads, in nested scopes (closures, comprehensions)
    too; its parameters and locals are not global."""

    def walk(table) -> set[str]:
        names = {s.get_name() for s in table.get_symbols() if s.is_referenced() and s.is_global()}
        return names.union(*map(walk, table.get_children()))

    return walk(symtable.symtable(source, "<copied>", "exec"))


def _resolve(module_name: str, name: str, reader: str) -> tuple[str, str] | None:
    """Where the definition that `name` means in the module lies, (module, name); None for np
    and builtins. A function imported from another module is copied from that module."""
    module = sys.modules[module_name]
    value = getattr(module, name, None)
    if name in _statements(module_name):
        return module_name, name
    if name == "np" and value is numpy:
        return None
    home = getattr(value, "__module__", None) if inspect.isfunction(value) else None
    if home in sys.modules and value.__name__ == name and name in _statements(home):
        return home, name
    if value is None and name in vars(builtins) and name not in FORBIDDEN_BUILTINS:
        return None
    raise CopyError(
        f"emitted source: {reader} ({module_name}) reads '{name}', which is neither np, a "
        "builtin nor a module-level function or constant it could copy"
    )


def _definition(module_name: str, name: str) -> tuple[Definition, list[tuple[str, str]]]:
    """The definition of `name` in the module, after checking it, and what it reads."""
    if name not in _statements(module_name):
        raise CopyError(f"emitted source: {name} is not a module-level function of {module_name}")
    position, stmt, source = _statements(module_name)[name]
    bad = [n for n in ast.walk(stmt) if isinstance(n, ast.Import | ast.ImportFrom | ast.Global)]
    if bad or getattr(stmt, "decorator_list", None) or name in RESERVED:
        what = "is decorated" if not bad else "imports or declares a global"
        what = f"redefines the emitted module's '{name}'" if name in RESERVED else what
        raise CopyError(f"emitted source: {name} ({module_name}) {what}")
    reads = [_resolve(module_name, n, name) for n in sorted(_reads(source) - {name})]
    return Definition(module_name, position, name, source), [r for r in reads if r]


def copied_source(functions) -> str:
    """The source of `functions` and of every module-level definition they read, transitively:
    each module's in its order, one name once."""
    todo = [(f.__module__, f.__name__) for f in functions]
    found: dict[tuple[str, str], Definition] = {}
    while todo:
        where = todo.pop()
        if where not in found:
            found[where], reads = _definition(*where)
            todo += reads
    names = [name for _, name in found]
    clash = next((n for n in names if names.count(n) > 1), None)
    if clash:
        raise CopyError(f"emitted source: two definitions named '{clash}' in {sorted(found)}")
    texts = [d.source for d in sorted(found.values())]
    # PEP 8: two blank lines around a function, none between constants.
    pairs = zip(texts, texts[1:], strict=False)
    seps = ["\n\n\n" if "def " in (a[:4], b[:4]) else "\n" for a, b in pairs]
    return "".join(text + sep for text, sep in zip(texts, [*seps, ""], strict=True))


def _call(name: str, x: str, kwargs: dict) -> list[str]:
    """`x = name(x, k=v, ...)`, one argument a line if it would pass 100 columns."""
    args = [x] + [
        f"{k}=w[{v.key!r}]" if type(v) is Tensor else f"{k}={v!r}" for k, v in kwargs.items()
    ]
    line = f"{x} = {name}({', '.join(args)})"
    if len(line) <= 92:  # indented by 8 in Model.__call__
        return [line]
    return [f"{x} = {name}(", *(f"    {a}," for a in args), ")"]


def _numpy_body(nodes, x: str, depth: int, lines: list[str], used: set) -> None:
    for node in nodes:
        lines.append(comment(describe(node)))
        if node.op == "residual":
            h = f"h{depth + 1}"
            lines.append(f"{h} = {x}")
            _numpy_body(node.body, h, depth + 1, lines, used)
            lines.append(f"{x} = {x} + {h}")
            continue
        if node.branches:
            names = [f"b{depth + 1}_{i}" for i in range(len(node.branches))]
            for name, branch in zip(names, node.branches, strict=True):
                lines.append(f"{name} = {x}")
                _numpy_body(branch, name, depth + 1, lines, used)
            axis = join_axis(node)
            joined = (
                " + ".join(names)
                if axis is None
                else f"np.concatenate([{', '.join(names)}], axis={axis})"
            )
            lines.append(f"{x} = {joined}")
            continue
        for key, kwargs in eval_calls(node):
            used.add(INFERENCE[key])
            lines += _call(INFERENCE[key].__name__, x, kwargs)


def numpy_source(spec) -> str:
    lines: list[str] = []
    used: set = set()
    _numpy_body(spec.ir.nodes, "x", 0, lines, used)
    body = "\n".join(" " * 8 + line for line in lines)
    imports = "import numpy as np\nfrom safetensors.numpy import load_file"
    return f'''{header(spec, "numpy", imports)}

{copied_source(used)}


class Model:
    """The model in evaluation mode: `model(x)` maps a float32 batch to its outputs."""

    def __init__(self, weights):
        for key, shape in SHAPES.items():
            if tuple(np.shape(weights[key])) != shape:
                raise ValueError(f"tensor {{key!r}}: expected shape {{shape}}")
        self.weights = {{key: np.asarray(weights[key], dtype=np.float32) for key in SHAPES}}

    def __call__(self, x):
        x = np.asarray(x, dtype=np.float32)
        if x.shape[1:] != INPUT_SHAPE:
            raise ValueError(f"expected a batch of shape (N, *{{INPUT_SHAPE}}), got {{x.shape}}")
        w = self.weights
{body}
        return x


def load(path):
    """A Model holding the weights of the safetensors file at `path`."""
    return Model(read_weights(path))
'''
