"""`stackspec compile SPEC --backend B --emit python`: standalone source for a model (§8).

The source imports numpy and safetensors (and torch for the torch backend), never stackspec. It
defines a class `Model`, whose call maps a float32 batch to the outputs in evaluation mode, and
`load(path)`, which checks a weight file's keys and shapes and returns a `Model` holding it.

It is generated from the IR: one small function (NumPy) or native module (torch) per layer kind
used, weights addressed by their §8 keys. Dropout is the identity in evaluation mode, so it
appears only as a comment in NumPy source and as nn.Dropout in torch source.
"""

from __future__ import annotations

import textwrap

from .layers import LAYERS, conv_padding

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

_TORCH_ACTIVATIONS = {
    "relu": lambda p: "nn.ReLU()",
    "sigmoid": lambda p: "nn.Sigmoid()",
    "tanh": lambda p: "nn.Tanh()",
    "softmax": lambda p: "nn.Softmax(dim=-1)",
    "gelu": lambda p: "nn.GELU()",
    "silu": lambda p: "nn.SiLU()",
    "elu": lambda p: f"nn.ELU(alpha={p.get('alpha', 1.0)!r})",
    "selu": lambda p: "nn.SELU()",
    "leaky_relu": lambda p: f"nn.LeakyReLU({p.get('slope', 0.01)!r})",
    "softplus": lambda p: "nn.Softplus()",
}


def emit_python(spec, backend: str) -> str:
    """Standalone source of `spec`'s model for `backend` ("numpy" or "torch")."""
    if backend == "numpy":
        return _numpy_source(spec)
    if backend == "torch":
        return _torch_source(spec)
    raise ValueError(f"unknown backend '{backend}'")


# --- shared pieces ----------------------------------------------------------------------------


def _fmt(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, tuple):
        return str(v[0]) if len(set(v)) == 1 else "x".join(map(str, v))
    return str(v)


def describe(node) -> str:
    """`3: conv2d 16 relu stride=2`: the node as a spec line, defaults left out, for comments."""
    kind = LAYERS.get(node.op)
    words = [f"{node.id}: {node.op}"]
    for arg in kind.args if kind else ():
        value = node.params[arg.name]
        if arg.positional and not (arg.name == "activation" and value == "linear"):
            words.append(_fmt(value))
        elif arg.positional or value == arg.default or arg.name == "init":
            continue
        elif not (arg.name == "stride" and value == node.params.get("size")):
            words.append(f"{arg.name}={_fmt(value)}")
    return " ".join(words)


def _shape(shape) -> str:
    return "(N, " + ", ".join(map(str, shape)) + ")"


def _header(spec, backend: str, imports: str) -> str:
    from pathlib import Path

    ir = spec.ir
    name = Path(spec.file).name if spec.file else "<spec>"
    outputs = {"bce": " (logits)", "crossentropy": " (logits)"}.get(ir.train["loss"]["name"], "")
    return f'''"""The model of {name}, standalone ({backend}), in evaluation mode.

Generated by `stackspec compile --backend {backend} --emit python`; needs no stackspec.
Input: float32 {_shape(ir.input)}; output: {_shape(ir.output_shape)}{outputs}.

    model = load("weights.safetensors")  # a weight file written by stackspec
    outputs = model(x)
"""

{imports}

INPUT_SHAPE = {tuple(ir.input)!r}
# The hash of the IR that stackspec writes in the metadata of this model's weight files.
MODEL_HASH = {ir.model_hash()!r}

# Every tensor of the weight file: key -> shape.
SHAPES = {{
{_lines(f"    {k!r}: {tuple(w.shape)!r}," for k, w in ir.tensors().items())}
}}


def read_weights(path):
    """The tensors of a safetensors file, after checking its keys and shapes against SHAPES."""
    weights = load_file(path)
    for key, shape in SHAPES.items():
        if key not in weights:
            raise ValueError(f"{{path}}: missing tensor {{key!r}}")
        if tuple(weights[key].shape) != shape:
            got = tuple(weights[key].shape)
            raise ValueError(f"{{path}}: tensor {{key!r}} has shape {{got}}, expected {{shape}}")
    extra = sorted(set(weights) - set(SHAPES))
    if extra:
        raise ValueError(f"{{path}}: unexpected tensor {{extra[0]!r}}")
    return {{key: np.ascontiguousarray(weights[key], dtype=np.float32) for key in SHAPES}}
'''


def _lines(lines) -> str:
    return "\n".join(lines)


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
        lines.append(f"# {describe(node)}")
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


def _numpy_source(spec) -> str:
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
    body = textwrap.indent(_lines(lines), " " * 8)
    imports = "import numpy as np\nfrom safetensors.numpy import load_file"
    return f'''{_header(spec, "numpy", imports)}

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


# --- torch source -----------------------------------------------------------------------------


def _torch_modules(node) -> list[str]:
    """Constructor expressions for `node`, weights on the first (as the torch backend builds)."""
    p, op, shape = node.params, node.op, node.input_shape
    if op == "dense":
        first = f"nn.Linear({shape[0]}, {p['units']}, bias={p['bias']})"
    elif op == "conv2d":
        top, bottom, left, right = conv_padding(p)
        symmetric = (top, left) == (bottom, right)
        first = (
            f"nn.Conv2d({shape[0]}, {p['filters']}, kernel_size={tuple(p['kernel'])!r}, "
            f"stride={tuple(p['stride'])!r}, padding={(top, left) if symmetric else 0!r}, "
            f"bias={p['bias']})"
        )
        if not symmetric:  # `same` with an even kernel: the odd pixel at the bottom/right
            pad = f"nn.ZeroPad2d({(left, right, top, bottom)!r})"
            act = p["activation"]
            return [pad, first] + ([] if act == "linear" else [_TORCH_ACTIVATIONS[act]({})])
    elif op == "dropout":
        return [f"nn.Dropout({p['rate']!r})"]
    elif op == "batchnorm":
        cls = "nn.BatchNorm1d" if len(shape) == 1 else "nn.BatchNorm2d"
        # torch's momentum is the fraction replaced; ours the fraction kept.
        return [
            f"{cls}({shape[0]}, eps={p['eps']!r}, momentum={1.0 - p['momentum']!r}, "
            f"affine={p['affine']})"
        ]
    elif op == "layernorm":
        return [f"nn.LayerNorm({shape[-1]}, eps={p['eps']!r}, elementwise_affine={p['affine']})"]
    elif op == "maxpool2d":
        return [
            f"nn.MaxPool2d({tuple(p['size'])!r}, stride={tuple(p['stride'])!r}, "
            f"padding={p['padding']!r})"
        ]
    elif op == "avgpool2d":
        return [
            f"nn.AvgPool2d({tuple(p['size'])!r}, stride={tuple(p['stride'])!r}, "
            f"padding={p['padding']!r}, count_include_pad=False)"
        ]
    elif op == "globalavgpool":
        return ["nn.AdaptiveAvgPool2d(1)", "nn.Flatten()"]
    elif op == "flatten":
        return ["nn.Flatten()"]
    elif op == "linear":
        return ["nn.Identity()"]
    else:
        return [_TORCH_ACTIVATIONS[op](p)]
    act = p["activation"]
    return [first] if act == "linear" else [first, _TORCH_ACTIVATIONS[act]({})]


def _torch_sequential(nodes, prefix: str, lines: list[str], keys: dict[str, str]) -> None:
    """Lines of an nn.Sequential's arguments; keys maps §8 keys to state_dict keys."""
    index = 0
    for node in nodes:
        lines.append(f"# {describe(node)}")
        if node.op == "residual":
            inner: list[str] = []
            _torch_sequential(node.body, f"{prefix}{index}.body.", inner, keys)
            lines += ["Residual(nn.Sequential(", *("    " + s for s in inner), ")),"]
            index += 1
            continue
        modules = _torch_modules(node)
        holder = index + int(modules[0].startswith("nn.ZeroPad2d"))  # the weights' module
        for name in (*node.weights, *node.state):
            keys[f"{node.id}.{name}"] = f"{prefix}{holder}.{name}"
        lines += [m + "," for m in modules]
        index += len(modules)


_RESIDUAL = '''
class Residual(nn.Module):
    """y = x + body(x)."""

    def __init__(self, body):
        super().__init__()
        self.body = body

    def forward(self, x):
        return x + self.body(x)

'''


def _torch_source(spec) -> str:
    lines: list[str] = []
    keys: dict[str, str] = {}
    _torch_sequential(spec.ir.nodes, "layers.", lines, keys)
    residual = any(n.op == "residual" for n in spec.ir.walk())
    imports = (
        "import numpy as np\nimport torch\nfrom safetensors.numpy import load_file\n"
        "from torch import nn"
    )
    body = textwrap.indent(_lines(lines), " " * 12)
    state_keys = _lines(f"    {k!r}: {v!r}," for k, v in keys.items())
    return f'''{_header(spec, "torch", imports)}
# Weight-file key -> this module's state_dict key.
STATE_KEYS = {{
{state_keys}
}}

{_RESIDUAL if residual else ""}
class Model(nn.Module):
    """The model as an nn.Module, in evaluation mode until .train() is called.

    A torch tensor in gives a tensor out, as any module; a NumPy batch in gives a NumPy batch out.
    """

    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(
{body}
        )
        self.eval()

    def forward(self, x):
        if isinstance(x, np.ndarray):
            first = next(iter(self.state_dict().values()), None)
            device = "cpu" if first is None else first.device
            with torch.no_grad():
                x = torch.as_tensor(np.asarray(x, dtype=np.float32), device=device)
                return self.layers(x).cpu().numpy()
        return self.layers(x)


def load(path, device="cpu"):
    """A Model holding the weights of the safetensors file at `path`, in evaluation mode."""
    weights = read_weights(path)
    model = Model()
    state = {{STATE_KEYS[key]: torch.from_numpy(value) for key, value in weights.items()}}
    # The file has every tensor; torch's num_batches_tracked counters are not part of it.
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing)
    return model.to(device).eval()
'''
