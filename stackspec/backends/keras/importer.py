"""`stackspec import-keras`: a Keras Sequential model (or Functional chain) -> a formatted spec
and its weights.

The spec is checked twice: as one line per layer (so a compile error names the Keras layer,
convert.py) and in its final form, with runs of identical layers folded into `repeat` blocks
(the lesson's three `dense 1024 relu | dropout 0.3 | batchnorm` become one `repeat 3`), which
must give the same IR.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...compiler.fmt import format_source
from ...compiler.pipeline import compile_source
from ...diagnostics import printable
from .archive import read_model
from .convert import Stack, convert, layer_error
from .converters import LAYERS
from .sequence_converters import SEQUENCE_LAYERS
from .settings import train_lines

KERAS_CLASSES = LAYERS | SEQUENCE_LAYERS  # Keras class -> its converter function


@dataclass(frozen=True)
class Imported:
    text: str  # the formatted spec
    ir: object
    weights: dict[str, np.ndarray] | None  # in stackspec's layouts, every ir.tensors() key
    notes: tuple[str, ...]  # settings left out or changed, for warnings
    keras_count: int | None  # every Keras variable's size (trainable and not), with weights


def import_keras(path: str, with_weights: bool) -> Imported:
    model = read_model(path, with_weights)
    stack = convert(model, KERAS_CLASSES)
    if not stack.lines:
        raise layer_error(model, 0, "the model has no layers") if model.layers else ValueError
    flat = stack.compiled()
    weights = _weights(stack, flat) if with_weights else None
    notes = list(stack.notes)
    train = train_lines(model.compile, notes)
    text = format_source(_spec_text(stack, Path(path).name, model.version, train), stack.model.name)
    final = compile_source(text, stack.model.name)
    assert final.ir is not None and final.ir.model_hash() == flat.model_hash(), text
    count = None
    if model.weights is not None:
        count = sum(int(np.size(v)) for vs in model.weights for v in vs if np.ndim(v))
    return Imported(text, final.ir, weights, tuple(notes), count)


def _weights(stack: Stack, ir) -> dict[str, np.ndarray]:
    """Every tensor the spec needs, checked against its shape; an error names the Keras layer."""
    out = {}
    for key, w in ir.tensors().items():
        node = int(key.split(".")[0])
        value = stack.tensors.get(key)
        if value is None:
            raise layer_error(stack.model, stack.owners[node], f"no variable for {key}")
        if value.shape != tuple(w.shape):
            why = f"variable {value.shape} where stackspec's {key} is {tuple(w.shape)}"
            raise layer_error(stack.model, stack.owners[node], why)
        out[key] = np.ascontiguousarray(value, dtype=np.float32)
    return out


def _spec_text(stack: Stack, file: str, version: str, train: list[str]) -> str:
    keras = f"Keras {version}" if version else "Keras"
    head = [f"# Imported from {printable(file)} ({keras}) by `stackspec import-keras`."]
    if len(stack.input) == 3 and stack.layout == "channels_last":
        head += [
            "# Keras's images are (H, W, C), this spec's (C, H, W):",
            "# x.transpose(0, 3, 1, 2) turns a Keras batch into this model's input.",
        ]
    body = fold_repeats(stack.lines)
    section = ["", "train {", *(f"  {x}" for x in train), "}"] if train else []
    lines = [*head, f"input {'x'.join(map(str, stack.input))}", "", *body, *section]
    return "\n".join(lines) + "\n"


def fold_repeats(lines: list[str]) -> list[str]:
    """Consecutive copies of a run of layers as `repeat N { ... }`, the longest cover first."""
    out, i, n = [], 0, len(lines)
    while i < n:
        best_k, best_r = 1, 1
        for k in range(1, (n - i) // 2 + 1):
            r = 1
            while lines[i + r * k : i + (r + 1) * k] == lines[i : i + k]:
                r += 1
            if r > 1 and k * r > best_k * best_r:
                best_k, best_r = k, r
        body = lines[i : i + best_k]
        if best_r == 1:
            out.append(body[0])
        elif best_k <= 4:
            out += [f"repeat {best_r} {{", "  " + " | ".join(body), "}"]
        else:
            out += [f"repeat {best_r} {{", *("  " + x for x in body), "}"]
        i += best_k * best_r
    return out
