"""Weight files (LANGUAGE.md §8): safetensors, never pickle, checked against the spec on load.

A file holds every `ir.tensors()` key (`{node_id}.{name}`) as float32 in the §8 layouts, and the
metadata {"format": "stackspec-weights", "version": "1", "ir_hash": ..., "stackspec": ...}.

Loading checks, in this order, and reports the first problem (E6xx, naming the file):
- E601 the file cannot be read, is not safetensors, is truncated or corrupt (every field of the
  header is checked here first, weights_check.py, so a short, foreign or crafted file gets a
  plain message naming the tensor and field, never a library exception);
- E606 the metadata says another format or an unsupported version;
- E602 a tensor the spec needs is missing, E604 a tensor has the wrong shape, E605 the wrong
  dtype (walking the spec's keys in order), then E603 a tensor the spec does not have;
- E607 a tensor holds NaN or infinity, E608 a batchnorm running variance is negative.
Saving writes the same bytes for the same weights (`encode`).
A file whose tensors all match but whose `ir_hash` differs (the spec changed in a way that keeps
every shape, e.g. another activation or dropout rate) is accepted with warning W601: the shapes
are the real check, and fine-tuning with a changed dropout rate is legitimate.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from ..diagnostics import Diagnostic, array_shape, did_you_mean
from ..files import write_bytes
from ..inputs import display_name, read_weight_bytes
from ..version import __version__
from .weights_check import check_header, check_values, parse_header, short
from .weights_check import error as _error

FORMAT, VERSION = "stackspec-weights", "1"
MAX_HEADER = 100 << 20  # safetensors' own limit on the JSON header


def save_weights(
    path: str | Path, ir, weights: dict[str, np.ndarray], data: dict | None = None
) -> None:
    """Write every tensor of `ir` from `weights` atomically (temp file, fsync, rename).
    `data`, what a data section learned in training, goes into the metadata as one JSON string
    (keys sorted), so that the file alone suffices to evaluate and predict."""
    write_bytes(path, weight_file_bytes(ir, weights, data))


def weight_file(ir, weights: dict[str, np.ndarray], data: dict | None = None):
    """(tensors, metadata) of the weight file of `weights` (see save_weights)."""
    tensors = {}
    for key, w in ir.tensors().items():
        a = np.ascontiguousarray(weights[key], dtype="<f4")
        assert a.shape == tuple(w.shape), f"{key}: {a.shape} != {w.shape}"
        tensors[key] = a
    meta = {"format": FORMAT, "version": VERSION, "ir_hash": ir.model_hash()}
    meta["stackspec"] = __version__
    if data is not None:
        meta["data"] = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return tensors, meta


def weight_file_bytes(ir, weights: dict[str, np.ndarray], data: dict | None = None) -> bytes:
    """The bytes of the weight file save_weights writes, for a caller that writes them itself
    (through files.write_output, after planning the output)."""
    return encode(*weight_file(ir, weights, data))


def encode(tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> bytes:
    """Safetensors bytes that depend only on the values: the library's own writer takes the
    metadata through a hash map, so its order (and the file's bytes) varied from run to run.
    Metadata keys sorted, tensors sorted by name and stored in that order; the header is padded
    with spaces to 8 bytes, as the library does, so the data stays aligned."""
    return b"".join(encoded(tensors, metadata))


def encoded(tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> list:
    """encode's bytes as pieces: the header, then each tensor's memory (no copies), for a
    writer that streams them."""
    header: dict = {"__metadata__": dict(sorted(metadata.items()))}
    chunks, offset = [], 0
    for key in sorted(tensors):
        a = np.ascontiguousarray(tensors[key], dtype="<f4")
        header[key] = {"dtype": "F32", "shape": list(a.shape)}
        header[key]["data_offsets"] = [offset, offset + a.nbytes]
        chunks.append(memoryview(a).cast("B"))
        offset += a.nbytes
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return [struct.pack("<Q", len(text)) + text, *chunks]


def read_header(path, data: bytes) -> dict:
    """The safetensors JSON header, every field validated (E601) against the file's size."""
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
    header = parse_header(path, data[8 : 8 + size])
    check_header(path, header, len(data) - 8 - size)
    return header


def load_weights(path: str | Path, ir) -> tuple[dict[str, np.ndarray], list[Diagnostic]]:
    """The tensors of a weight file that matches `ir`, and warnings (W601); else SpecError."""
    tensors, notes, _ = load_weights_and_data(path, ir)
    return tensors, notes


def load_weights_and_data(path: str | Path, ir):
    """load_weights, and what a data section learned (None if the file holds none)."""
    data = read_weight_bytes(path, MAX_HEADER)  # E601: unreadable, a device, too long, ...
    name = display_name(path)  # `-` is stdin
    tensors, notes, meta = _load(name, data, ir)
    if "data" not in meta:
        return tensors, notes, None
    try:
        learned = json.loads(meta["data"])
    except ValueError:
        learned = None
    if not isinstance(learned, dict):
        raise _error(name, "E606", "the metadata's `data` entry is not a JSON object")
    return tensors, notes, learned


def weights_from_bytes(path, data: bytes, ir) -> tuple[dict[str, np.ndarray], list[Diagnostic]]:
    """load_weights after the read: any bytes give the tensors or a SpecError (E6xx), nothing
    else. `path` only names the file in messages."""
    tensors, notes, _ = _load(path, data, ir)
    return tensors, notes


def _load(path, data: bytes, ir) -> tuple[dict[str, np.ndarray], list[Diagnostic], dict]:
    """weights_from_bytes, and the file's metadata (its header is parsed once)."""
    from safetensors.numpy import load

    header = read_header(path, data)
    meta = header.get("__metadata__") or {}
    if meta.get("format", FORMAT) != FORMAT:
        message = f"not a stackspec weight file (format '{short(meta['format'])}')"
        raise _error(path, "E606", message)
    if meta.get("version", VERSION) != VERSION:
        message = f"weight file version '{short(meta['version'])}' is not supported"
        raise _error(path, "E606", f"{message} (this stackspec reads version {VERSION})")
    check_tensors(path, header, ir)
    try:
        tensors = load(data)
    except Exception as e:  # every field was checked; whatever the library still refuses
        raise _error(path, "E601", f"corrupt safetensors file: {short(str(e), 200)}") from None
    out = {k: np.array(tensors[k], dtype=np.float32) for k in ir.tensors()}
    check_values(path, out)
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
    return out, notes, meta


def check_tensors(path, header: dict, ir) -> None:
    """Raise a SpecError naming the first mismatch between the file's tensors and the spec's."""
    expected = ir.tensors()
    found = {k: v for k, v in header.items() if k != "__metadata__"}
    problems: list[tuple[str, str, str]] = []
    for key, w in expected.items():
        if key not in found:
            problems.append(("E602", f"missing tensor '{key}' of shape {array_shape(w.shape)}", ""))
            continue
        got = found[key]
        if tuple(got["shape"]) != tuple(w.shape):
            message = (
                f"tensor '{key}' has shape {short(array_shape(got['shape']))}, the spec expects "
            )
            problems.append(("E604", message + array_shape(w.shape), ""))
        elif got["dtype"] != "F32":
            message = f"tensor '{key}' has dtype {got['dtype']}, the spec expects F32"
            problems.append(("E605", message, ""))
    for key in found:
        if key not in expected:
            message = f"unexpected tensor '{short(key)}': the spec has no such weight"
            problems.append(("E603", message, key))
    if problems:
        code, message, key = problems[0]
        # did-you-mean only for the one reported: a crafted file may hold a million keys
        hint = did_you_mean(short(key), expected).removeprefix("; ").capitalize() if key else ""
        more = len(problems) - 1
        extra = f"{more} more mismatch{'es' if more > 1 else ''} after this one" if more else ""
        hint = "; ".join(h for h in (hint, extra, "was it saved from another spec or --set?") if h)
        raise _error(path, code, message, hint)
