"""ONNX export: a spec's model, in evaluation mode, as an ONNX graph (`compile --emit onnx`).

The graph is built from the IR with the `onnx` library alone (helper, numpy_helper): exporting
needs neither torch nor the NumPy backend to run. Like the backends, the exporter has one
function per registry key (layers.py, activations.py); graph.py composes them and assembles the
model. The `onnx` package is an optional extra, imported only here and below.
"""

from __future__ import annotations

from ...diagnostics import UserError

# Opset 17 (ONNX 1.12, 2022): LayerNormalization is a standard op there, and every serving
# stack of the last years (onnxruntime >= 1.12, TensorRT 8.5+, OpenVINO) reads it. Newer ops
# (Gelu 20, RMSNormalization 23) are written as their few primitive ops instead.
OPSET = 17
# The IR version that goes with opset 17: runtimes refuse a newer IR version than they know.
IR_VERSION = 8

ONNX_MISSING = (
    "ONNX export needs the onnx package, which is not installed; install it with "
    "`pip install 'stackspec[onnx]'`"
)


def require_onnx():
    try:
        import onnx
    except ImportError:
        raise UserError(ONNX_MISSING) from None
    return onnx


def onnx_model(ir, weights: dict, source: str = ""):
    """The `onnx.ModelProto` of `ir` with `weights` (every `ir.tensors()` key, §8 layouts):
    input `input` (N, *ir.input), output `output` (N, *ir.output_shape), N dynamic."""
    require_onnx()
    from .graph import build_model

    return build_model(ir, weights, source)


def onnx_bytes(ir, weights: dict, source: str = "") -> bytes:
    """onnx_model serialized: the bytes of a `.onnx` file (the same for the same weights)."""
    return onnx_model(ir, weights, source).SerializeToString()


__all__ = ["IR_VERSION", "ONNX_MISSING", "OPSET", "onnx_bytes", "onnx_model", "require_onnx"]
