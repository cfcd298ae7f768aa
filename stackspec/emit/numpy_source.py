"""Standalone NumPy source: the backend's own evaluation functions, copied from inference.py.

Each node becomes the calls that the NumPy backend makes in evaluation mode (layers.eval_calls),
and the source of the functions they need, with the constants and helpers those use, is copied
from inference.py in its order: the emitted model computes what the compiled one computes.
"""

from __future__ import annotations

import ast
import functools
import inspect

from ..backends.numpy import inference
from ..backends.numpy.layers import Tensor, eval_calls
from . import comment, describe, header


@functools.cache
def _definitions() -> dict[str, tuple[int, str, frozenset[str]]]:
    """Each top-level name of inference.py -> (its statement's position, source, the names the
    statement reads). Imports and the docstring are left out: the header imports numpy."""
    source = inspect.getsource(inference)
    out = {}
    for i, stmt in enumerate(ast.parse(source).body):
        if isinstance(stmt, ast.FunctionDef):
            names = [stmt.name]
        elif isinstance(stmt, ast.Assign):
            names = [t.id for t in stmt.targets if isinstance(t, ast.Name)]
        else:
            continue
        reads = frozenset(n.id for n in ast.walk(stmt) if isinstance(n, ast.Name))
        for name in names:
            out[name] = (i, ast.get_source_segment(source, stmt), reads)
    return out


def _functions(used: set[str]) -> str:
    """The source of the functions in `used` and of every module-level name they read."""
    defs, seen, todo = _definitions(), set(), list(used)
    while todo:
        name = todo.pop()
        if name in defs and name not in seen:
            seen.add(name)
            todo.extend(defs[name][2])
    texts = [text for _, text in sorted({defs[name][:2] for name in seen})]
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


def _numpy_body(nodes, x: str, depth: int, lines: list[str], used: set[str]) -> None:
    for node in nodes:
        lines.append(comment(describe(node)))
        if node.op == "residual":
            h = f"h{depth + 1}"
            lines.append(f"{h} = {x}")
            _numpy_body(node.body, h, depth + 1, lines, used)
            lines.append(f"{x} = {x} + {h}")
            continue
        for name, kwargs in eval_calls(node):
            used.add(name)
            lines += _call(name, x, kwargs)


def numpy_source(spec) -> str:
    lines: list[str] = []
    used: set[str] = set()
    _numpy_body(spec.ir.nodes, "x", 0, lines, used)
    body = "\n".join(" " * 8 + line for line in lines)
    imports = "import numpy as np\nfrom safetensors.numpy import load_file"
    return f'''{header(spec, "numpy", imports)}

{_functions(used)}


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
