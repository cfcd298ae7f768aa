"""Weight files: safetensors round trip, metadata, and every bad file rejected by name (E6xx)."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from conftest import every_layer_specs
from safetensors.numpy import load_file, save_file

import stackspec
from stackspec.diagnostics import SpecError
from stackspec.training.weights import FORMAT, load_weights, save_weights

SPEC = "input 3\ndense 4 relu\nbatchnorm\ndropout 0.5\ndense 1\n"


def ir_of(text: str = SPEC):
    return stackspec.parse(text).ir


def tensors(ir, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {k: rng.standard_normal(w.shape).astype(np.float32) for k, w in ir.tensors().items()}
    return {k: abs(v) if k.endswith((".running_var", ".var")) else v for k, v in out.items()}


def saved(tmp_path, ir=None):
    ir = ir or ir_of()
    path = tmp_path / "w.safetensors"
    w = tensors(ir)
    save_weights(path, ir, w)
    return path, w


def rejected(path, ir=None):
    with pytest.raises(SpecError) as e:
        load_weights(path, ir or ir_of())
    [d] = e.value.diagnostics
    assert d.file == str(path) and d.severity == "error"
    return d


def test_round_trip_keys_layouts_and_metadata(tmp_path):
    ir = ir_of()
    path, w = saved(tmp_path, ir)
    back, notes = load_weights(path, ir)
    assert notes == [] and list(back) == list(ir.tensors())
    for k in w:
        assert back[k].dtype == np.float32 and np.array_equal(back[k], w[k])
    assert back["0.weight"].shape == (4, 3)  # dense (units, F)
    assert set(back) == {"0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean",
                         "1.running_var", "3.weight", "3.bias"}  # fmt: skip
    from safetensors import safe_open

    with safe_open(str(path), "np") as f:
        meta = f.metadata()
    assert meta["format"] == FORMAT and meta["version"] == "1"
    assert meta["ir_hash"] == ir.model_hash() and meta["stackspec"] == stackspec.__version__


def test_loaded_arrays_are_writable_copies(tmp_path):
    path, _ = saved(tmp_path)
    back, _ = load_weights(path, ir_of())
    back["0.weight"][0, 0] = 1.0


@pytest.mark.parametrize(
    "content, words",
    [
        (b"", "not a safetensors file"),
        (b"hello, this is text and not weights", "not a safetensors file"),
        (struct.pack("<Q", 10) + b"{not json}", "not JSON"),
        (struct.pack("<Q", 2) + b"[]", "not a JSON object"),
    ],
)
def test_not_a_safetensors_file(tmp_path, content, words):
    path = tmp_path / "w.safetensors"
    path.write_bytes(content)
    d = rejected(path)
    assert d.code == "E601" and words in d.message


def test_truncated_file(tmp_path):
    path, _ = saved(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[:-10])
    d = rejected(path)
    assert d.code == "E601" and "truncated" in d.message
    path.write_bytes(data[:20])
    assert rejected(path).code == "E601"


def test_corrupt_header_entry(tmp_path):
    header = json.dumps({"0.weight": {"dtype": "F32", "shape": [4, 3], "data_offsets": [0, 8]}})
    path = tmp_path / "w.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header.encode() + bytes(48))
    d = rejected(path)
    assert d.code == "E601" and "'0.weight'" in d.message


def test_missing_file_and_directory(tmp_path):
    assert rejected(tmp_path / "nope.safetensors").code == "E601"
    assert rejected(tmp_path).code == "E601"


def test_missing_tensor_is_named(tmp_path):
    path, w = saved(tmp_path)
    del w["1.running_var"]
    save_file(w, str(path))
    d = rejected(path)
    assert d.code == "E602" and "'1.running_var'" in d.message and "(4,)" in d.message


def test_unexpected_tensor_is_named(tmp_path):
    path, w = saved(tmp_path)
    w["3.wieght"] = np.zeros(1, dtype=np.float32)
    save_file(w, str(path))
    d = rejected(path)
    assert d.code == "E603" and "'3.wieght'" in d.message and "'3.weight'" in d.hint


def test_wrong_shape_names_the_first_mismatch_expected_and_got(tmp_path):
    ir = ir_of()
    other = ir_of(SPEC.replace("dense 4", "dense 5"))
    path = tmp_path / "w.safetensors"
    save_weights(path, other, tensors(other))
    d = rejected(path, ir)
    assert d.code == "E604"
    assert "'0.weight' has shape (5, 3), the spec expects (4, 3)" in d.message
    assert "more mismatches" in d.hint


def test_wrong_dtype(tmp_path):
    path, w = saved(tmp_path)
    w["0.bias"] = w["0.bias"].astype(np.float64)
    save_file(w, str(path))
    d = rejected(path)
    assert d.code == "E605" and "'0.bias'" in d.message and "F64" in d.message


def test_other_format_or_version(tmp_path):
    path, w = saved(tmp_path)
    save_file(w, str(path), metadata={"format": "pt"})
    assert rejected(path).code == "E606"
    save_file(w, str(path), metadata={"format": FORMAT, "version": "9"})
    d = rejected(path)
    assert d.code == "E606" and "'9'" in d.message


def test_plain_safetensors_without_metadata_loads_when_tensors_match(tmp_path):
    path, w = saved(tmp_path)
    save_file(w, str(path))
    back, notes = load_weights(path, ir_of())
    assert notes == [] and np.array_equal(back["3.weight"], w["3.weight"])


def test_hash_mismatch_with_matching_tensors_is_a_warning(tmp_path):
    path, w = saved(tmp_path)
    changed = ir_of(SPEC.replace("dropout 0.5", "dropout 0.1"))
    back, notes = load_weights(path, changed)
    assert [n.code for n in notes] == ["W601"] and np.array_equal(back["0.bias"], w["0.bias"])


def test_atomic_save_keeps_the_old_file_on_failure(tmp_path):
    ir = ir_of()
    path, w = saved(tmp_path, ir)
    before = path.read_bytes()
    bad = dict(w)
    del bad["0.bias"]
    with pytest.raises(KeyError):
        save_weights(path, ir, bad)
    assert path.read_bytes() == before and load_file(str(path))["0.bias"].shape == (4,)
    assert [p.name for p in tmp_path.iterdir()] == ["w.safetensors"]


def test_model_save_load_through_the_api(tmp_path):
    spec = stackspec.parse(SPEC)
    a, b = spec.compile("numpy", seed=1), spec.compile("numpy", seed=2)
    a.save(tmp_path / "a.safetensors")
    assert b.load(tmp_path / "a.safetensors") is b
    for k, v in a.get_weights().items():
        assert np.array_equal(v, b.get_weights()[k])
    other = stackspec.parse(SPEC.replace("dense 1", "dense 2")).compile("numpy")
    with pytest.raises(SpecError) as e:
        other.load(tmp_path / "a.safetensors")
    assert e.value.diagnostics[0].code == "E604"
    changed = stackspec.parse(SPEC.replace("relu", "tanh")).compile("numpy")
    with pytest.warns(UserWarning, match="IR hash differs"):
        changed.load(tmp_path / "a.safetensors")


def test_every_layers_weights_round_trip_through_a_file(tmp_path):
    for name, text in every_layer_specs().items():
        ir = ir_of(text)
        w = tensors(ir)
        save_weights(tmp_path / "w.safetensors", ir, w)
        back, notes = load_weights(tmp_path / "w.safetensors", ir)
        assert notes == [] and list(back) == list(ir.tensors()), name
        for k in w:
            assert np.array_equal(back[k], w[k]), f"{name}: {k}"


# Crafted headers (issue 7): every field is checked, E601 names the tensor and the field; no
# exception but SpecError for any bytes.


def craft(tmp_path, change=None, raw: bytes | None = None, body: bytes | None = None):
    """A valid file for SPEC whose header `change(header)` edits (or `raw` replaces)."""
    path, _ = saved(tmp_path)
    data = path.read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + size])
    if change:
        change(header)
    text = raw if raw is not None else json.dumps(header).encode()
    rest = data[8 + size :] if body is None else body
    path.write_bytes(struct.pack("<Q", len(text)) + text + rest)
    return path


def entry(key, field, value):
    def change(header):
        header[key][field] = value

    return change


def meta(value):
    def change(header):
        header["__metadata__"] = value

    return change


def shift_offsets(header):  # 0.weight, after 0.bias, moves 4 bytes back: they overlap
    header["0.weight"]["data_offsets"] = [n - 4 for n in header["0.weight"]["data_offsets"]]


CRAFTED = {
    "offsets strings": (entry("0.bias", "data_offsets", ["0", "16"]), "'0.bias': data_offsets"),
    "offsets null": (entry("0.bias", "data_offsets", None), "not null"),
    "offsets one": (entry("0.bias", "data_offsets", [0]), "[begin, end]"),
    "offsets three": (entry("0.bias", "data_offsets", [0, 16, 32]), "[begin, end]"),
    "offsets negative": (entry("0.bias", "data_offsets", [-16, 0]), "non-negative"),
    "offsets bool": (entry("0.bias", "data_offsets", [False, True]), "two non-negative"),
    "offsets reversed": (entry("0.bias", "data_offsets", [16, 0]), "end before they begin"),
    "offsets overlap": (shift_offsets, "overlaps the tensor before it"),
    "shape negative": (entry("0.weight", "shape", [-4, -3]), "'0.weight': shape"),
    "shape float": (entry("0.weight", "shape", [4.0, 3]), "[4.0, 3]"),
    "shape bool": (entry("0.weight", "shape", [True, 3]), "non-negative integers"),
    "shape string": (entry("0.weight", "shape", "4x3"), 'not "4x3"'),
    "wrong size": (entry("0.weight", "shape", [3, 3]), "has 48 bytes of data"),
    "dtype unknown": (entry("0.weight", "dtype", "F33"), 'unknown dtype "F33"'),
    "dtype number": (entry("0.weight", "dtype", 32), "unknown dtype 32"),
    "dtype missing": (lambda h: h["0.weight"].pop("dtype"), "'0.weight' has no 'dtype'"),
    "entry list": (lambda h: h.update({"0.weight": [1, 2]}), "must be an object"),
    "metadata list": (meta(["format"]), "__metadata__ must be an object of strings"),
    "metadata true": (meta(True), "not true"),
    "metadata number": (meta(3.5), "not 3.5"),
    "metadata value": (lambda h: h["__metadata__"].update(version=1), "'version' must be a str"),
}


@pytest.mark.parametrize("name", CRAFTED)
def test_crafted_header_fields_are_named(tmp_path, name):
    change, words = CRAFTED[name]
    d = rejected(craft(tmp_path, change))
    assert d.code == "E601" and words in d.message, d.message


@pytest.mark.parametrize(
    "raw, words",
    [
        (b"[1, 2]", "not a JSON object"),
        (b'{"a": 1, "a": 2}', "the key 'a' appears twice"),
        (b'{"__metadata__": {"x": NaN}}', "not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "not JSON"),
        (b'{"a": 1' + b"9" * 5000 + b"}", ""),  # beyond int()'s digit limit
        (b"{}", "after the last tensor"),  # no tensors, but data follows
    ],
)
def test_crafted_header_json(tmp_path, raw, words):
    d = rejected(craft(tmp_path, raw=raw))
    assert d.code == "E601" and words in d.message


def test_gap_truncation_and_trailing_bytes(tmp_path):
    path, _ = saved(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data + b"\0\0\0\0")
    assert "4 bytes after the last tensor" in rejected(path).message
    d = rejected(craft(tmp_path, lambda h: h.pop("0.bias")))  # a hole where it was
    assert d.code == "E601" and "leaves a gap before it" in d.message
    d = rejected(craft(tmp_path, body=b""))
    assert "truncated file: the tensors need" in d.message


def test_header_length_past_the_file_or_huge(tmp_path):
    path, _ = saved(tmp_path)
    data = path.read_bytes()
    for size in (len(data), 1 << 26, 1 << 63, (1 << 64) - 1):
        path.write_bytes(struct.pack("<Q", size) + data[8:])
        assert rejected(path).code == "E601"


def test_a_huge_key_is_shortened_in_the_message(tmp_path):
    d = rejected(craft(tmp_path, lambda h: h.update({"k" * 100_000: {"dtype": "?"}})))
    assert d.code == "E601" and "'kkk" in d.message and len(d.message) < 200
    d = rejected(craft(tmp_path, lambda h: h["0.bias"].update(shape=[1] * 100_000)))
    assert d.code == "E601" and len(d.message) < 200


# Values (issue 7): NaN, infinity and a negative running variance are refused at load.


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_weights_are_refused_naming_the_tensor(tmp_path, bad):
    ir = ir_of()
    w = tensors(ir)
    w["3.weight"][0, 2] = bad
    w["0.bias"][1] = bad
    path = tmp_path / "w.safetensors"
    save_weights(path, ir, w)
    d = rejected(path, ir)
    assert d.code == "E607" and d.message == (
        f"tensor '0.bias' has 1 non-finite value (the first, {float(bad)}, at index 1)"
    )
    assert "diverged" in d.hint and "1 more tensor after this one" in d.hint


def test_negative_running_variance_is_refused(tmp_path):
    ir = ir_of()
    w = tensors(ir)
    w["1.running_var"][2] = -0.25
    path = tmp_path / "w.safetensors"
    save_weights(path, ir, w)
    d = rejected(path, ir)
    assert d.code == "E608"
    assert d.message == (
        "tensor '1.running_var' has 1 negative variance (the first, -0.25, at index 2)"
    )
    w["1.running_var"][2] = 0.0  # zero is legal: batchnorm adds eps
    w["1.running_mean"][:] = -5  # and only the variance must be non-negative
    save_weights(path, ir, w)
    load_weights(path, ir)


def test_model_load_refuses_non_finite_weights(tmp_path):
    spec = stackspec.parse(SPEC)
    model = spec.compile("numpy", seed=0)
    w = model.get_weights()
    w["0.weight"][:] = np.nan
    save_weights(tmp_path / "w.safetensors", spec.ir, w)
    before = model.get_weights()
    with pytest.raises(SpecError) as e:
        model.load(tmp_path / "w.safetensors")
    assert e.value.diagnostics[0].code == "E607"
    assert all(np.array_equal(v, model.get_weights()[k]) for k, v in before.items())


# Saving (issue 7): the same weights give the same bytes.


def test_two_saves_are_byte_identical(tmp_path):
    ir = ir_of()
    w = tensors(ir)
    save_weights(tmp_path / "a.safetensors", ir, w)
    save_weights(tmp_path / "b.safetensors", ir, dict(reversed(list(w.items()))))
    a, b = ((tmp_path / n).read_bytes() for n in ("a.safetensors", "b.safetensors"))
    assert a == b
    (size,) = struct.unpack("<Q", a[:8])
    assert size % 8 == 0  # the data stays aligned, as the library writes it
    header = json.loads(a[8 : 8 + size])
    assert list(header) == ["__metadata__", *sorted(ir.tensors())]
    assert list(header["__metadata__"]) == sorted(header["__metadata__"])


def test_encode_is_the_library_format():
    from safetensors.numpy import save

    from stackspec.training.weights import encode

    t = {"b": np.arange(6, dtype=np.float32).reshape(2, 3), "a": np.ones(0, np.float32)}
    assert encode(t, {"k": "v"}) == save(t, metadata={"k": "v"})
    backwards = dict(reversed(t.items()))
    assert encode(t, {"x": "1", "a": "2"}) == encode(backwards, {"a": "2", "x": "1"})
