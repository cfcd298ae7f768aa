"""Standalone NumPy source: one small function per layer kind the spec uses."""

from __future__ import annotations

import textwrap

from ..layers import conv_padding
from . import comment, describe, header, join_lines

# --- NumPy: one function per layer kind, included only when the spec uses it -----------------


NUMPY_FUNCTIONS = {
    "dense": """
def dense(x, weight, bias=None):
    y = x @ weight.T
    return y if bias is None else y + bias
""",
    "conv2d": '''
def conv2d(x, weight, bias, stride, padding):
    """Cross-correlation; padding is (top, bottom, left, right)."""
    (top, bottom, left, right), (sh, sw) = padding, stride
    kh, kw = weight.shape[2:]
    x = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    windows = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))
    windows = windows[:, :, ::sh, ::sw]  # (N, C, H', W', kh, kw)
    y = np.tensordot(windows, weight, axes=([1, 4, 5], [1, 2, 3])).transpose(0, 3, 1, 2)
    return y if bias is None else y + bias[:, None, None]
''',
    "maxpool2d": """
def maxpool2d(x, size, stride, padding):
    p = padding
    x = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=-np.inf)
    windows = np.lib.stride_tricks.sliding_window_view(x, size, axis=(2, 3))
    return windows[:, :, :: stride[0], :: stride[1]].max(axis=(4, 5))
""",
    "avgpool2d": """
def avgpool2d(x, size, stride, padding):
    # The mean over the real pixels of each window: padded zeros are not counted.
    pads = ((0, 0), (0, 0), (padding, padding), (padding, padding))

    def window_sums(a):
        windows = np.lib.stride_tricks.sliding_window_view(np.pad(a, pads), size, axis=(2, 3))
        return windows[:, :, :: stride[0], :: stride[1]].sum(axis=(4, 5))

    return window_sums(x) / window_sums(np.ones((1, 1) + x.shape[2:], np.float32))
""",
    "globalavgpool": """
def globalavgpool(x):
    return x.mean(axis=(2, 3))
""",
    "flatten": """
def flatten(x):
    return x.reshape(len(x), -1)
""",
    "batchnorm": '''
def batchnorm(x, running_mean, running_var, weight=None, bias=None, eps=1e-3):
    """Evaluation mode: the running statistics, per feature (N, F) or per channel (N, C, H, W)."""
    shape = (1, -1) + (1,) * (x.ndim - 2)
    y = (x - running_mean.reshape(shape)) / np.sqrt(running_var.reshape(shape) + eps)
    if weight is not None:
        y = y * weight.reshape(shape) + bias.reshape(shape)
    return y
''',
    "layernorm": """
def layernorm(x, weight=None, bias=None, eps=1e-5):
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    y = (x - mean) / np.sqrt(var + eps)
    return y if weight is None else y * weight + bias
""",
    "linear": "",
    "relu": """
def relu(x):
    return np.maximum(x, 0)
""",
    "sigmoid": """
def sigmoid(x):
    # exp(-log(1 + exp(-x))) never overflows, unlike 1 / (1 + exp(-x)).
    return np.exp(-np.logaddexp(0.0, -x)).astype(np.float32)
""",
    "tanh": """
def tanh(x):
    return np.tanh(x)
""",
    "softmax": """
def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)
""",
    "gelu": '''
def gelu(x):
    """Exact GELU, x * Phi(x), with Phi(x) = erfc(-x / sqrt 2) / 2 computed by the Chebyshev
    fit of Numerical Recipes (relative error < 1.2e-7), in float64: numpy has no erf."""
    z = -x.astype(np.float64) / np.sqrt(2.0)
    t = 1.0 / (1.0 + 0.5 * np.abs(z))
    c = (1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807,
         -1.13520398, 1.48851587, -0.82215223, 0.17087277)
    poly = 0.0
    for coefficient in reversed(c):
        poly = coefficient + t * poly
    erfc = t * np.exp(-z * z - 1.26551223 + t * poly)
    erfc = np.where(z >= 0, erfc, 2.0 - erfc)
    return (x * 0.5 * erfc).astype(np.float32)
''',
    "silu": """
def silu(x):
    return x * sigmoid(x)
""",
    "elu": """
def elu(x, alpha=1.0):
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0))).astype(np.float32)
""",
    "selu": """
def selu(x):
    alpha, scale = 1.6732632423543772, 1.0507009873554805
    return (scale * np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))).astype(np.float32)
""",
    "leaky_relu": """
def leaky_relu(x, slope=0.01):
    return np.where(x > 0, x, slope * x).astype(np.float32)
""",
    "softplus": """
def softplus(x):
    return np.logaddexp(0.0, x).astype(np.float32)
""",
    "dropout": "",
    "residual": "",
}

# Functions that call other emitted functions.
NUMPY_NEEDS = {"silu": ("sigmoid",)}


# --- NumPy source -----------------------------------------------------------------------------


def _weight(node, name: str) -> str:
    return f'w["{node.id}.{name}"]' if name in node.weights or name in node.state else "None"


def _numpy_call(node, x: str) -> str | None:
    """The expression computing `node` on variable `x`; None for the identity."""
    p, op = node.params, node.op
    if op == "dense":
        return f"dense({x}, {_weight(node, 'weight')}, {_weight(node, 'bias')})"
    if op == "conv2d":
        return (
            f"conv2d({x}, {_weight(node, 'weight')}, {_weight(node, 'bias')}, "
            f"stride={tuple(p['stride'])!r}, padding={conv_padding(p)!r})"
        )
    if op in ("maxpool2d", "avgpool2d"):
        return (
            f"{op}({x}, size={tuple(p['size'])!r}, stride={tuple(p['stride'])!r}, "
            f"padding={p['padding']!r})"
        )
    if op == "batchnorm":
        stats = f"{_weight(node, 'running_mean')}, {_weight(node, 'running_var')}"
        scale = f"{_weight(node, 'weight')}, {_weight(node, 'bias')}"
        return f"batchnorm({x}, {stats}, {scale}, eps={p['eps']!r})"
    if op == "layernorm":
        return (
            f"layernorm({x}, {_weight(node, 'weight')}, {_weight(node, 'bias')}, eps={p['eps']!r})"
        )
    if op in ("dropout", "linear"):
        return None
    return _numpy_activation(op, p, x)


def _numpy_activation(name: str, p: dict, x: str) -> str | None:
    if name == "linear":
        return None
    if name == "elu":
        return f"elu({x}, alpha={p.get('alpha', 1.0)!r})"
    if name == "leaky_relu":
        return f"leaky_relu({x}, slope={p.get('slope', 0.01)!r})"
    return f"{name}({x})"


def _numpy_body(nodes, x: str, depth: int, lines: list[str], used: set[str]) -> None:
    for node in nodes:
        used.add(node.op)
        lines.append(comment(describe(node)))
        if node.op == "residual":
            h = f"h{depth + 1}"
            lines.append(f"{h} = {x}")
            _numpy_body(node.body, h, depth + 1, lines, used)
            lines.append(f"{x} = {x} + {h}")
            continue
        call = _numpy_call(node, x)
        if call is not None:
            lines.append(f"{x} = {call}")
        elif node.op == "dropout":
            lines[-1] += " (the identity in evaluation mode)"
        act = node.params.get("activation") if node.op in ("dense", "conv2d") else None
        if act and act != "linear":
            used.add(act)
            lines.append(f"{x} = {_numpy_activation(act, {}, x)}")


def numpy_source(spec) -> str:
    lines: list[str] = []
    used: set[str] = set()
    _numpy_body(spec.ir.nodes, "x", 0, lines, used)
    for op in list(used):
        used.update(NUMPY_NEEDS.get(op, ()))
    functions = "\n".join(
        textwrap.dedent(NUMPY_FUNCTIONS[op]).strip() + "\n\n"
        for op in NUMPY_FUNCTIONS
        if op in used and NUMPY_FUNCTIONS[op]
    )
    body = textwrap.indent(join_lines(lines), " " * 8)
    imports = "import numpy as np\nfrom safetensors.numpy import load_file"
    return f'''{header(spec, "numpy", imports)}

{functions}
class Model:
    """The model in evaluation mode: `model(x)` maps a float32 batch to its outputs."""

    def __init__(self, weights):
        for key, shape in SHAPES.items():
            if tuple(np.shape(weights[key])) != shape:
                raise ValueError(f"tensor {{key!r}}: expected shape {{shape}}")
        self.weights = {{key: np.asarray(weights[key], dtype=np.float32) for key in SHAPES}}

    def __call__(self, x):
        x = np.asarray(x, dtype=np.float32)
        if x.shape[1:] != INPUT_SHAPE:
            raise ValueError(f"expected a batch of shape (N, *{{INPUT_SHAPE}}), got {{x.shape}}")
        w = self.weights
{body}
        return x


def load(path):
    """A Model holding the weights of the safetensors file at `path`."""
    return Model(read_weights(path))
'''
