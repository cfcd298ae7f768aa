"""Fuzzing the weight-file loader (issue 7, defects 5 and 12), in-process on bytes.

Valid files for a small spec with batchnorm, then their JSON header mutated (values replaced by
random JSON, keys dropped or added, offsets and shapes moved) or their bytes damaged (flipped,
cut, extended, another header length). The loader must give the tensors or a SpecError with
E6xx codes and a short message, never another exception; an unchanged file must load.
"""

from __future__ import annotations

import json
import struct
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import stackspec
from stackspec.diagnostics import SpecError
from stackspec.training.weights import encode, save_weights, weights_from_bytes

from .catalogue import FUZZ_EXAMPLES

SPEC = "input 3\ndense 4 relu\nbatchnorm\ndense 2\n"
IR = stackspec.parse(SPEC).ir
SETTINGS = settings(
    max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**66), 2**66)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


def random_weights(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    weights = {}
    for key, w in IR.tensors().items():
        a = rng.standard_normal(w.shape).astype(np.float32)
        weights[key] = abs(a) if key.endswith(".running_var") else a
    return weights


def saved_file(seed: int) -> bytes:
    """What save_weights writes (once, through the disk, for the fixed base file)."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "w.safetensors"
        save_weights(path, IR, random_weights(seed))
        return path.read_bytes()


BASE = saved_file(0)
META = json.loads(BASE[8 : 8 + struct.unpack("<Q", BASE[:8])[0]])["__metadata__"]


def valid_file(seed: int) -> bytes:
    return encode(random_weights(seed), META)  # the bytes save_weights writes, in memory


def split(data: bytes) -> tuple[dict, bytes]:
    (size,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8 : 8 + size]), data[8 + size :]


def join(header, body: bytes) -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + body


def loads_or_refuses(data: bytes) -> dict | None:
    """The tensors, or None after a well-formed refusal; anything else fails the test."""
    try:
        tensors, notes = weights_from_bytes("w.safetensors", data, IR)
    except SpecError as e:
        assert e.diagnostics and all(d.code.startswith("E6") for d in e.diagnostics), e
        assert all(len(d.message) + len(d.hint) < 600 for d in e.diagnostics), e
        return None
    assert set(tensors) == set(IR.tensors())
    assert all(np.isfinite(a).all() for a in tensors.values())
    return tensors


def mutate_header(data, header: dict) -> None:
    """One edit of the header, in place, drawn from `data`."""
    keys = sorted(header)
    key = data.draw(st.sampled_from([*keys, "__metadata__", "extra"]))
    ops = ["replace", "drop", "add", "field", "offsets", "shape", "rename", "meta", "reshape"]
    op = data.draw(st.sampled_from(ops))
    entry = header.get(key)
    if op in ("rename", "meta", "reshape"):
        well_formed_edit(data, header, key, op)
    elif op == "replace":
        header[key] = data.draw(JSON)
    elif op == "drop":
        header.pop(key, None)
    elif op == "add":
        header[data.draw(st.text(max_size=8))] = data.draw(JSON)
    elif not isinstance(entry, dict):
        header[key] = data.draw(JSON)
    elif op == "field":
        name = data.draw(st.sampled_from(["dtype", "shape", "data_offsets", "x", "format"]))
        if data.draw(st.booleans()):
            entry[name] = data.draw(JSON)
        else:
            entry.pop(name, None)
    elif op == "offsets" and isinstance(entry.get("data_offsets"), list):
        i = data.draw(st.integers(0, max(0, len(entry["data_offsets"]) - 1)))
        if entry["data_offsets"] and type(entry["data_offsets"][i]) is int:
            entry["data_offsets"][i] += data.draw(st.integers(-40, 40))
    elif op == "shape" and isinstance(entry.get("shape"), list) and entry["shape"]:
        i = data.draw(st.integers(0, len(entry["shape"]) - 1))
        entry["shape"][i] = data.draw(st.integers(-3, 9) | JSON)


def well_formed_edit(data, header: dict, key: str, op: str) -> None:
    """Edits that keep the file valid safetensors, to reach the spec checks (E602-E606)."""
    if op == "rename" and key in header:
        header[data.draw(st.sampled_from([*IR.tensors(), "0.wieght", ""]))] = header.pop(key)
    elif op == "meta" and isinstance(header.get("__metadata__"), dict):
        name = data.draw(st.sampled_from(["format", "version", "ir_hash", "other"]))
        header["__metadata__"][name] = data.draw(st.text(max_size=8))
    elif op == "reshape" and isinstance(header.get(key), dict):
        entry = header[key]
        if isinstance(entry.get("shape"), list):  # same byte count, another shape or dtype
            entry["shape"] = data.draw(st.permutations(entry["shape"]).map(list))
        if data.draw(st.booleans()) and entry.get("dtype") == "F32":
            entry["dtype"] = data.draw(st.sampled_from(["I32", "U32", "F32"]))


def damage_bytes(data, raw: bytes) -> bytes:
    op = data.draw(st.sampled_from(["flip", "truncate", "extend", "length"]))
    if not raw:
        return data.draw(st.binary(max_size=16))
    if op == "flip":
        i = data.draw(st.integers(0, len(raw) - 1))
        return raw[:i] + bytes([raw[i] ^ data.draw(st.integers(1, 255))]) + raw[i + 1 :]
    if op == "truncate":
        return raw[: data.draw(st.integers(0, len(raw) - 1))]
    if op == "extend":
        return raw + data.draw(st.binary(min_size=1, max_size=16))
    size = data.draw(st.integers(0, 2**64 - 1) | st.integers(0, len(raw) + 8))
    return struct.pack("<Q", size) + raw[8:]


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), data=st.data())
def test_fuzz_weight_header_mutations(seed, data):
    header, body = split(valid_file(seed) if seed % 8 == 0 else BASE)
    for _ in range(data.draw(st.integers(0, 3))):
        mutate_header(data, header)
    raw = join(header, body)
    for _ in range(data.draw(st.integers(0, 2))):
        raw = damage_bytes(data, raw)
    loads_or_refuses(raw)


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1))
def test_fuzz_valid_files_load(seed):
    raw = valid_file(seed)
    assert raw == valid_file(seed)  # byte-reproducible
    tensors = loads_or_refuses(raw)
    assert tensors is not None
    header, _ = split(raw)
    assert list(header) == ["__metadata__", *sorted(IR.tensors())]


@SETTINGS
@given(
    key=st.sampled_from(sorted(IR.tensors())),
    value=st.floats(width=32),
    index=st.integers(0, 100),
)
def test_fuzz_weight_values(key, value, index):
    header, body = split(BASE)
    begin, end = header[key]["data_offsets"]
    at = begin + 4 * (index % ((end - begin) // 4))
    raw = join(header, body[:at] + struct.pack("<f", value) + body[at + 4 :])
    tensors = loads_or_refuses(raw)
    bad = not np.isfinite(value) or (key.endswith(".running_var") and value < 0)
    assert (tensors is None) == bad


@SETTINGS
@given(raw=st.binary(max_size=64), size=st.integers(0, 80))
def test_fuzz_weight_arbitrary_bytes(raw, size):
    loads_or_refuses(raw)
    loads_or_refuses(struct.pack("<Q", size) + raw)
