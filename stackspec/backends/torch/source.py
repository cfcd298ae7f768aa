"""Standalone torch source: the torch backend's own module descriptions, printed.

The backend builds its model from `layers.modules(ir.nodes)` and finds its tensors by
`layers.state_keys`; this prints the same sequence as `nn.<class>(args)` and the same keys, so a
compiled model's state_dict loads into the emitted one. The classes torch.nn lacks (layers.LOCAL)
are copied from modules.py, attention.py and lookups.py, read as text: emitting needs no torch.
"""

from __future__ import annotations

import ast
from pathlib import Path

from ..source import comment, describe, header, join_lines
from . import layers

# The files defining layers.LOCAL's classes.
LOCAL_FILES = ("modules.py", "attention.py", "lookups.py")


def _local_classes(names: set[str]) -> str:
    """The source of the LOCAL_FILES' classes in `names`, in layers.LOCAL order."""
    found = {}
    for file in LOCAL_FILES:
        source = Path(layers.__file__).with_name(file).read_text(encoding="utf-8")
        found.update(
            (stmt.name, ast.get_source_segment(source, stmt))
            for stmt in ast.parse(source).body
            if isinstance(stmt, ast.ClassDef) and stmt.name in names
        )
    missing = names - set(found)
    assert not missing, f"no class {sorted(missing)} in {LOCAL_FILES}"
    return "".join(f"\n{found[name]}\n\n" for name in layers.LOCAL if name in names)


def _used(sequence) -> set[str]:
    own = {m.cls for m in sequence if m.cls in layers.LOCAL}
    inner = [m.body for m in sequence] + [b for m in sequence for b in m.branches]
    return own.union(*(_used(s) for s in inner))


def _constructor(m: layers.Module) -> str:
    args = [repr(a) for a in m.args] + [f"{k}={v!r}" for k, v in m.kwargs.items()]
    return f"{'' if m.cls in layers.LOCAL else 'nn.'}{m.cls}({', '.join(args)})"


def _sequential(sequence, lines: list[str], bodies: list[str]) -> None:
    """Lines of an nn.Sequential's arguments, each node's modules under its comment. A
    residual's body is built first, as a variable in `bodies` (innermost first): nested
    expressions would pass Python's limit of 200 nested parentheses at 100 nested residuals."""
    node = None
    for m in sequence:
        if m.node is not node:
            node = m.node
            lines.append(comment(describe(node)))
        if m.cls not in ("Residual", "Concat", "Add"):
            lines.append(_constructor(m) + ",")
            continue
        name = "body_" + node.id.replace(".", "_")
        names = [name] if m.cls == "Residual" else [f"{name}_{j}" for j in range(len(m.branches))]
        for part, seq in zip(names, [m.body] if m.cls == "Residual" else m.branches, strict=True):
            inner: list[str] = []
            _sequential(seq, inner, bodies)
            bodies += [f"{part} = nn.Sequential(", *("    " + s for s in inner), ")"]
        kwargs = [f"{k}={v!r}" for k, v in m.kwargs.items()]
        lines.append(f"{m.cls}({', '.join(names + kwargs)}),")


def torch_source(spec) -> str:
    sequence = layers.modules(spec.ir.nodes)
    lines: list[str] = []
    bodies: list[str] = []
    _sequential(sequence, lines, bodies)
    imports = (
        "import numpy as np\nimport torch\nfrom safetensors.numpy import load_file\n"
        "from torch import nn"
    )
    body = join_lines(" " * 12 + line for line in lines)
    residuals = "".join(" " * 8 + line + "\n" for line in bodies)
    local_classes = _local_classes(_used(sequence))
    state_keys = join_lines(f"    {k!r}: {v!r}," for k, v in layers.state_keys(sequence).items())
    return f'''{header(spec, "torch", imports)}

# Weight-file key -> this module's state_dict key.
STATE_KEYS = {{
{state_keys}
}}

{local_classes}
class Model(nn.Module):
    """The model as an nn.Module, in evaluation mode until .train() is called.

    A torch tensor in gives a tensor out, as any module; a NumPy batch in gives a NumPy batch out.
    """

    def __init__(self):
        super().__init__()
{residuals}        self.layers = nn.Sequential(
{body}
        )
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)

    # The NumPy convenience is here, not in `forward`, so that forward sees tensors only and
    # torch.jit.script, torch.jit.trace, torch.export and torch.compile take the module as is.
    def __call__(self, x, *args, **kwargs):
        if isinstance(x, np.ndarray):
            return self.predict_numpy(x)
        return super().__call__(x, *args, **kwargs)

    @torch.jit.ignore
    def predict_numpy(self, x):
        """A float32 NumPy batch -> the outputs as a NumPy batch, without gradients."""
        first = next(iter(self.state_dict().values()), None)
        device = "cpu" if first is None else first.device
        with torch.no_grad():
            x = torch.as_tensor(np.asarray(x, dtype=np.float32), device=device)
            return self.layers(x).cpu().numpy()


def load(path, device="cpu"):
    """A Model holding the weights of the safetensors file at `path`, in evaluation mode."""
    weights = read_weights(path)
    model = Model()
    state = {{STATE_KEYS[key]: torch.from_numpy(value) for key, value in weights.items()}}
    # The file has every tensor; torch's num_batches_tracked counters are not part of it.
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing)
    return model.to(device).eval()
'''
