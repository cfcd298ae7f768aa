"""Weight files: safetensors round trip, metadata, and every bad file rejected by name (E6xx)."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

import stackspec
from stackspec.diagnostics import SpecError
from stackspec.weights import FORMAT, load_weights, save_weights

SPEC = "input 3\ndense 4 relu\nbatchnorm\ndropout 0.5\ndense 1\n"


def ir_of(text: str = SPEC):
    return stackspec.parse(text).ir


def tensors(ir, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal(w.shape).astype(np.float32) for k, w in ir.tensors().items()}


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
    assert d.code == "E602" and "'1.running_var'" in d.message and "(4)" in d.message


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
