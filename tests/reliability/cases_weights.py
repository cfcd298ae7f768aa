"""Weight files (issue 7, defects 5, 12 and 18): crafted headers, non-finite values, negative
variances, each refused with an E6xx naming the tensor and field; same training, same bytes."""

from __future__ import annotations

import json
import struct
import subprocess
import sys

from .catalogue import CSV, SPEC, Case, weights_bytes

W = weights_bytes()
BN_SPEC = "input 3\ndense 4 relu\nbatchnorm\ndense 1\ntrain {\n  epochs 1\n  batch 4\n}\n"
BN_W = weights_bytes(BN_SPEC)
PREDICT = ["predict", "m.stack", "--weights", "bad.safetensors", "--data", "d.csv", "--target", "y"]


def split(data: bytes) -> tuple[dict, bytes]:
    (size,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8 : 8 + size]), data[8 + size :]


def join(header: bytes | dict, body: bytes) -> bytes:
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + body


def crafted(change, data: bytes = W) -> bytes:
    """`data` with its header edited by `change(header)`, the tensors' bytes kept."""
    header, body = split(data)
    change(header)
    return join(header, body)


def field(key: str, name: str, value):
    return lambda header: header[key].__setitem__(name, value)


def metadata(value):
    return lambda header: header.__setitem__("__metadata__", value)


def move(key: str, by: int):
    return lambda header: header[key].__setitem__(
        "data_offsets", [n + by for n in header[key]["data_offsets"]]
    )


def with_value(key: str, index: int, value: float, data: bytes = W) -> bytes:
    """`data` with one float32 of tensor `key` replaced."""
    header, body = split(data)
    at = header[key]["data_offsets"][0] + 4 * index
    return join(header, body[:at] + struct.pack("<f", value) + body[at + 4 :])


def bad(name: str, content: bytes, spec: str = SPEC) -> Case:
    return Case(name, PREDICT, {"m.stack": spec, "d.csv": CSV, "bad.safetensors": content})


def same_bytes_again(tmp, proc) -> None:
    """A second training with the same seed writes the same weight bytes (defect 18)."""
    args = ["train", "m.stack", "--data", "d.csv", "--target", "y", "--seed", "3", "--out", "b"]
    again = subprocess.run([sys.executable, "-m", "stackspec", *args], cwd=tmp, capture_output=True)
    assert again.returncode == 0, again.stderr
    first, second = (tmp / d / "weights.safetensors" for d in "ab")
    assert first.read_bytes() == second.read_bytes()


HEADER, BODY = split(W)
RAW_HEADER = json.dumps(HEADER).encode()

CASES = [
    # defect 5: every field of the header checked, E601 naming tensor and field
    bad("weights_offsets_strings", crafted(field("0.bias", "data_offsets", ["0", "16"]))),
    bad("weights_offsets_null", crafted(field("0.bias", "data_offsets", None))),
    bad("weights_offsets_wrong_length", crafted(field("0.bias", "data_offsets", [0, 8, 16]))),
    bad("weights_offsets_negative", crafted(field("0.bias", "data_offsets", [-16, 0]))),
    bad("weights_offsets_overlap", crafted(move("0.weight", -4))),
    bad("weights_offsets_gap", crafted(move("0.bias", 4))),
    bad("weights_shape_negative", crafted(field("0.weight", "shape", [-4, -3]))),
    bad("weights_shape_float", crafted(field("0.weight", "shape", [4.0, 3]))),
    bad("weights_shape_bool", crafted(field("1.bias", "shape", [True]))),
    bad("weights_dtype_unknown", crafted(field("0.weight", "dtype", "F31"))),
    bad("weights_dtype_not_string", crafted(field("0.weight", "dtype", ["F32"]))),
    bad("weights_metadata_list", crafted(metadata(["format", "stackspec-weights"]))),
    bad("weights_metadata_true", crafted(metadata(True))),
    bad("weights_metadata_number", crafted(metadata(7))),
    bad("weights_metadata_value", crafted(metadata({"format": "stackspec-weights", "v": 1}))),
    bad("weights_header_array", join(b"[" + RAW_HEADER + b"]", BODY)),
    bad("weights_duplicate_key", join(RAW_HEADER[:-1] + b', "1.bias": {}}', BODY)),
    bad("weights_header_past_file", struct.pack("<Q", len(W)) + W[8:]),
    bad("weights_header_huge", struct.pack("<Q", (1 << 64) - 1) + W[8:]),
    bad("weights_trailing_bytes", W + b"\0" * 8),
    # defect 12: values that would make every prediction NaN
    bad("weights_nan", with_value("0.weight", 5, float("nan"))),
    bad("weights_inf", with_value("1.bias", 0, float("-inf"))),
    bad("weights_negative_running_var", with_value("1.running_var", 2, -0.5, BN_W), BN_SPEC),
    # the legitimate use still works: a batchnorm spec's own weights
    Case(
        "weights_good_batchnorm",
        ["predict", "m.stack", "--weights", "w.safetensors", "--data", "d.csv", "--target", "y"],
        {"m.stack": BN_SPEC, "d.csv": CSV, "w.safetensors": BN_W},
        exit=0,
    ),
    # defect 18: same training, same bytes
    Case(
        "weights_train_same_bytes",
        ["train", "m.stack", "--data", "d.csv", "--target", "y", "--seed", "3", "--out", "a"],
        {"m.stack": BN_SPEC, "d.csv": CSV},
        exit=0,
        golden=False,
        contains=("wrote a/",),
        creates=("a",),
        check=same_bytes_again,
    ),
]
