"""Good cases: ordinary commands that must keep working, with the catalogue's checks."""

from __future__ import annotations

from .catalogue import CSV, SPEC, Case, weights_bytes

W = weights_bytes()

CASES = [
    Case("good_check", ["check", "m.stack"], {"m.stack": SPEC}, exit=0),
    Case(
        "good_compile_ir_out",
        ["compile", "m.stack", "-o", "ir.json"],
        {"m.stack": SPEC},
        exit=0,
        creates=("ir.json",),
    ),
    Case(
        "good_train",
        ["train", "m.stack", "--data", "d.csv", "--target", "y", "--out", "run"],
        {"m.stack": SPEC, "d.csv": CSV},
        exit=0,
        golden=False,
        contains=("wrote run/",),
        creates=("run",),
    ),
    Case(
        "good_predict",
        ["predict", "m.stack", "--weights", "w.safetensors", "--data", "d.csv", "--target", "y"],
        {"m.stack": SPEC, "d.csv": CSV, "w.safetensors": W},
        exit=0,
    ),
]
