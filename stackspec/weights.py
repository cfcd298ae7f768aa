"""Weight files (LANGUAGE.md §8): safetensors, never pickle, checked against the spec on load.

A file holds every `ir.tensors()` key (`{node_id}.{name}`) as float32 in the §8 layouts, and the
metadata {"format": "stackspec-weights", "version": "1", "ir_hash": ..., "stackspec": ...}.

Loading checks, in this order, and reports the first problem (E6xx, naming the file):
- E601 the file cannot be read, is not safetensors, is truncated or corrupt (the header is parsed
  here first, so a short or foreign file gets a plain message, not a library exception);
- E606 the metadata says another format or an unsupported version;
- E602 a tensor the spec needs is missing, E604 a tensor has the wrong shape, E605 the wrong
  dtype (walking the spec's keys in order), then E603 a tensor the spec does not have.
A file whose tensors all match but whose `ir_hash` differs (the spec changed in a way that keeps
every shape, e.g. another activation or dropout rate) is accepted with warning W601: the shapes
are the real check, and fine-tuning with a changed dropout rate is legitimate.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import numpy as np

from .diagnostics import Diagnostic, SpecError, did_you_mean
from .files import atomic_write_bytes
from .inputs import display_name, read_weight_bytes

FORMAT, VERSION = "stackspec-weights", "1"
MAX_HEADER = 100 << 20  # safetensors' own limit on the JSON header
DTYPE_SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1}
DTYPE_SIZES.update({"U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1})


def _error(path, code: str, message: str, hint: str = "") -> SpecError:
    return SpecError([Diagnostic("error", code, message, hint=hint, file=str(path))])


def save_weights(path: str | Path, ir, weights: dict[str, np.ndarray]) -> None:
    """Write every tensor of `ir` from `weights` atomically (temp file, fsync, rename)."""
    from safetensors.numpy import save

    from . import __version__

    tensors = {}
    for key, w in ir.tensors().items():
        a = np.ascontiguousarray(weights[key], dtype=np.float32)
        assert a.shape == tuple(w.shape), f"{key}: {a.shape} != {w.shape}"
        tensors[key] = a
    meta = {"format": FORMAT, "version": VERSION, "ir_hash": ir.model_hash()}
    meta["stackspec"] = __version__
    atomic_write_bytes(path, save(tensors, metadata=meta))


def read_header(path, data: bytes) -> dict:
    """The safetensors JSON header, validated against the file's size."""
    if len(data) < 8:
        raise _error(path, "E601", f"not a safetensors file ({len(data)} bytes)")
    (size,) = struct.unpack("<Q", data[:8])
    if size > MAX_HEADER:
        raise _error(path, "E601", "not a safetensors file (no valid header)")
    if 8 + size > len(data):
        raise _error(
            path,
            "E601",
            f"truncated or not a safetensors file: the header needs {size} bytes, "
            f"the file has {len(data) - 8} after the length",
        )
    try:
        header = json.loads(data[8 : 8 + size].decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _error(path, "E601", "not a safetensors file (the header is not JSON)") from None
    if not isinstance(header, dict):
        raise _error(path, "E601", "not a safetensors file (the header is not a JSON object)")
    body = len(data) - 8 - size
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        try:
            dtype, shape, (begin, end) = entry["dtype"], entry["shape"], entry["data_offsets"]
            nbytes = DTYPE_SIZES[dtype] * math.prod(shape)
        except (KeyError, TypeError, ValueError):
            raise _error(path, "E601", f"corrupt safetensors header at tensor '{key}'") from None
        if end > body:
            raise _error(path, "E601", f"truncated file: tensor '{key}' ends past the end")
        if end - begin != nbytes:
            raise _error(path, "E601", f"corrupt file: tensor '{key}' has the wrong byte size")
    return header


def load_weights(path: str | Path, ir) -> tuple[dict[str, np.ndarray], list[Diagnostic]]:
    """The tensors of a weight file that matches `ir`, and warnings (W601); else SpecError."""
    from safetensors.numpy import load

    data = read_weight_bytes(path, MAX_HEADER)  # E601: unreadable, a device, too long, ...
    path = display_name(path)  # `-` is stdin
    header = read_header(path, data)
    meta = header.get("__metadata__") or {}
    if meta.get("format", FORMAT) != FORMAT:
        raise _error(path, "E606", f"not a stackspec weight file (format '{meta['format']}')")
    if meta.get("version", VERSION) != VERSION:
        raise _error(
            path,
            "E606",
            f"weight file version '{meta['version']}' is not supported (this stackspec reads "
            f"version {VERSION})",
        )
    check_tensors(path, header, ir)
    try:
        tensors = load(data)
    except Exception as e:  # the header was fine, so the body is damaged
        raise _error(path, "E601", f"corrupt safetensors file: {e}") from None
    notes = []
    if "ir_hash" in meta and meta["ir_hash"] != ir.model_hash():
        notes.append(
            Diagnostic(
                "warning",
                "W601",
                "the weights were saved from a different spec (the IR hash differs), but every "
                "tensor's name and shape match; loading them",
                hint="layer settings that keep shapes (activation, dropout rate, ...) changed",
                file=str(path),
            )
        )
    return {k: np.array(tensors[k], dtype=np.float32) for k in ir.tensors()}, notes


def _fmt(shape) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"


def check_tensors(path, header: dict, ir) -> None:
    """Raise a SpecError naming the first mismatch between the file's tensors and the spec's."""
    expected = ir.tensors()
    found = {k: v for k, v in header.items() if k != "__metadata__"}
    problems: list[tuple[str, str, str]] = []
    for key, w in expected.items():
        if key not in found:
            problems.append(("E602", f"missing tensor '{key}' of shape {_fmt(w.shape)}", ""))
            continue
        got = found[key]
        if tuple(got["shape"]) != tuple(w.shape):
            problems.append(
                (
                    "E604",
                    f"tensor '{key}' has shape {_fmt(got['shape'])}, the spec expects "
                    f"{_fmt(w.shape)}",
                    "",
                )
            )
        elif got["dtype"] != "F32":
            problems.append(
                ("E605", f"tensor '{key}' has dtype {got['dtype']}, the spec expects F32", "")
            )
    for key in found:
        if key not in expected:
            hint = did_you_mean(key, expected).removeprefix("; ").capitalize()
            problems.append(
                ("E603", f"unexpected tensor '{key}': the spec has no such weight", hint)
            )
    if problems:
        code, message, hint = problems[0]
        more = len(problems) - 1
        extra = f"{more} more mismatch{'es' if more > 1 else ''} after this one" if more else ""
        hint = "; ".join(h for h in (hint, extra, "was it saved from another spec or --set?") if h)
        raise _error(path, code, message, hint)
