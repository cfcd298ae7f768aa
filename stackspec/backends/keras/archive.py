"""Reading a Keras 3 model without Keras: a `.keras` file is a zip holding `config.json` (the
model's architecture), `metadata.json` (the Keras version) and `model.weights.h5` (the variables,
read with h5py); a bare `config.json` has the architecture alone.

In the HDF5 file a Sequential's layers are not found by their names (which Keras numbers per
session) but by their class in snake case, numbered per class in layer order (`dense`,
`dense_1`, ...: keras/src/saving/saving_lib.py `_save_container_state`), each with its variables
in the order of `layer.weights`: `layers/dense_1/vars/0` is the second Dense's kernel. A layer
made of layers keeps their variables in groups of its own (`layers/lstm/cell/vars`,
`layers/bidirectional/forward_layer/cell/vars`, `layers/multi_head_attention/query_dense/vars`),
read in the order of `layer.weights` (SUBLAYERS).

A Functional model is read when it is a chain: one input, and every layer called once on the
output of the layer before it (MultiHeadAttention on it as query, value and key), which is a
Sequential model written another way, the only way to write self-attention. Branches and
residuals (a layer reading another than the one before, or two) are refused.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...diagnostics import UserError, printable
from . import H5PY_MISSING


@dataclass(frozen=True)
class KerasModel:
    """A Sequential model as saved: its layer configs (the InputLayer, if any, included), its
    compile config, the Keras version, and each non-input layer's variables (None without
    weights: a config.json)."""

    name: str  # the file, for messages
    config: dict
    layers: tuple[dict, ...]
    compile: dict | None
    version: str
    weights: tuple[tuple[np.ndarray, ...], ...] | None
    # A Functional chain's call keyword arguments per layer (`use_causal_mask`), None in a
    # Sequential model (its layers are called on x alone).
    calls: tuple[dict, ...] | None = None


def fail(name: str, message: str) -> UserError:
    return UserError(f"{printable(name)}: {message}")


def read_model(path: str, with_weights: bool) -> KerasModel:
    """The model of a `.keras` file or a config.json; its weights when `with_weights`."""
    name = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise UserError(f"cannot read {printable(name)}: {e.strerror or e}") from None
    if zipfile.is_zipfile(io.BytesIO(data)):
        return _read_archive(name, data, with_weights)
    if with_weights:
        raise fail(name, "a config.json holds no weights; --weights-out needs a .keras file")
    return _model(name, _json(name, data, "the file"), "", None)


def _read_archive(name: str, data: bytes, with_weights: bool) -> KerasModel:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            files = set(z.namelist())
            if "config.json" not in files:
                raise fail(name, "not a Keras 3 .keras file (no config.json in the archive)")
            config = _json(name, z.read("config.json"), "config.json")
            meta = (
                _json(name, z.read("metadata.json"), "metadata.json")
                if ("metadata.json" in files)
                else {}
            )
            h5 = z.read("model.weights.h5") if "model.weights.h5" in files else None
    except (zipfile.BadZipFile, OSError, RuntimeError) as e:  # RuntimeError: encrypted entries
        raise fail(name, f"cannot read the archive: {e}") from None
    model = _model(name, config, str(meta.get("keras_version", "")), None)
    if not with_weights:
        return model
    if h5 is None:
        raise fail(name, "the archive holds no model.weights.h5")
    return KerasModel(**{**model.__dict__, "weights": _read_weights(name, h5, model.layers)})


def _json(name: str, data: bytes, what: str):
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise fail(name, f"{what} is not JSON: {e}") from None


def _model(name: str, config, version: str, weights) -> KerasModel:
    if not isinstance(config, dict) or "class_name" not in config:
        raise fail(name, "not a Keras model config (no class_name)")
    cls = config["class_name"]
    if cls not in ("Sequential", "Functional"):
        raise fail(
            name,
            f"a {cls} model; import-keras reads keras.Sequential models and Functional chains",
        )
    inner = config.get("config") or {}
    layers = inner.get("layers")
    if not isinstance(layers, list) or not all(isinstance(x, dict) for x in layers):
        raise fail(name, f"the {cls} config has no list of layers")
    calls = _chain(name, inner, layers) if cls == "Functional" else None
    compile_config = config.get("compile_config")
    return KerasModel(name, config, tuple(layers), compile_config, version, weights, calls)


def _chain(name: str, inner: dict, layers: list[dict]) -> tuple[dict, ...]:
    """Each layer's call keywords (tensors left out), after checking that the Functional model is
    a chain: the input first, then each layer called once on the one before."""
    names = [str(x.get("name") or (x.get("config") or {}).get("name")) for x in layers]
    if not layers or layers[0].get("class_name") != "InputLayer":
        raise fail(name, "a Functional model whose first layer is not its one input")
    outputs = inner.get("output_layers")
    if len(inner.get("input_layers") or []) != 3 or (outputs or [None])[0] != names[-1]:
        raise fail(
            name, "a Functional model with several inputs or outputs; import-keras reads chains"
        )
    calls: list[dict] = [{}]
    for i, layer in enumerate(layers[1:], 1):
        nodes = layer.get("inbound_nodes") or []
        if len(nodes) != 1:
            why = "is called twice (a shared layer)" if nodes else "is called on nothing"
            raise fail(name, f"layer {names[i]!r} {why}; import-keras reads chains")
        sources, kwargs = set(), {}
        for key, value in [
            *enumerate(nodes[0].get("args") or []),
            *nodes[0].get("kwargs", {}).items(),
        ]:
            if _tensors(value):
                sources |= {tuple(t["config"]["keras_history"]) for t in _tensors(value)}
            elif isinstance(key, str):
                kwargs[key] = value
            else:
                raise fail(name, f"layer {names[i]!r} is called with a positional non-tensor")
        if sources != {(names[i - 1], 0, 0)}:
            read = ", ".join(sorted(repr(s[0]) for s in sources)) or "nothing"
            if layer.get("class_name") == "MultiHeadAttention":
                raise fail(
                    name,
                    f"layer {names[i]!r} (MultiHeadAttention) attends from {read}: "
                    "cross-attention has no stackspec equivalent; stackspec's attention is "
                    "self-attention (query, value and key the output of the layer before)",
                )
            raise fail(
                name,
                f"layer {names[i]!r} reads {read}, not the layer before it ({names[i - 1]!r}): "
                "a branch or residual, which import-keras does not read (Sequential models and "
                "Functional chains only)",
            )
        calls.append(kwargs)
    return tuple(calls)


def _tensors(value) -> list[dict]:
    """The Keras tensors that a call argument is or holds (Add's is a list of them)."""
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        return [value]
    if isinstance(value, list | tuple):
        return [t for v in value for t in _tensors(v)]
    return []


def snake_case(name: str) -> str:
    """Keras's naming.to_snake_case: `BatchNormalization` -> `batch_normalization`."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _read_weights(name: str, h5: bytes, layers) -> tuple[tuple[np.ndarray, ...], ...]:
    try:
        import h5py
    except ImportError:
        raise UserError(H5PY_MISSING) from None
    used: dict[str, int] = {}
    out = []
    try:
        with h5py.File(io.BytesIO(h5), "r") as f:
            for layer in layers:
                if layer.get("class_name") == "InputLayer":
                    continue
                key = snake_case(str(layer.get("class_name")))
                used[key] = used.get(key, -1) + 1
                group = key if used[key] == 0 else f"{key}_{used[key]}"
                out.append(_variables(f, f"layers/{group}"))
    except OSError as e:
        raise fail(name, f"model.weights.h5 cannot be read: {e}") from None
    return tuple(out)


# Sublayer groups, in the order of their layer's `weights`: a recurrent layer's cell, a
# Bidirectional's forward then backward layer, MultiHeadAttention's q, k, v and output.
SUBLAYERS = ("cell", "forward_layer", "backward_layer")
SUBLAYERS += ("query_dense", "key_dense", "value_dense", "output_dense")


def _variables(f, path: str) -> tuple[np.ndarray, ...]:
    """A layer group's variables: its own, then its known sublayers', then any other's by name."""
    if path not in f:
        return ()
    group = f[path]
    out = []
    if "vars" in group:
        out += [np.asarray(group["vars"][str(i)]) for i in range(len(group["vars"]))]
    subs = [k for k in SUBLAYERS if k in group]
    subs += sorted(k for k in group if k != "vars" and k not in SUBLAYERS)
    for sub in subs:
        out += _variables(f, f"{path}/{sub}")
    return tuple(out)
