"""Reading a Keras 3 model without Keras: a `.keras` file is a zip holding `config.json` (the
model's architecture), `metadata.json` (the Keras version) and `model.weights.h5` (the variables,
read with h5py); a bare `config.json` has the architecture alone.

In the HDF5 file a Sequential's layers are not found by their names (which Keras numbers per
session) but by their class in snake case, numbered per class in layer order (`dense`,
`dense_1`, ...: keras/src/saving/saving_lib.py `_save_container_state`), each with its variables
in the order of `layer.weights`: `layers/dense_1/vars/0` is the second Dense's kernel.
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
    if cls != "Sequential":
        raise fail(
            name,
            f"a {cls} model; import-keras reads keras.Sequential models (a stack of layers)",
        )
    inner = config.get("config") or {}
    layers = inner.get("layers")
    if not isinstance(layers, list) or not all(isinstance(x, dict) for x in layers):
        raise fail(name, "the Sequential config has no list of layers")
    compile_config = config.get("compile_config")
    return KerasModel(name, config, tuple(layers), compile_config, version, weights)


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
                out.append(_variables(f, f"layers/{group}/vars"))
    except OSError as e:
        raise fail(name, f"model.weights.h5 cannot be read: {e}") from None
    return tuple(out)


def _variables(f, path: str) -> tuple[np.ndarray, ...]:
    if path not in f:
        return ()
    group = f[path]
    return tuple(np.asarray(group[str(i)]) for i in range(len(group)))
