"""Standalone torch source: an nn.Module of native modules, loading §8 weight files."""

from __future__ import annotations

import textwrap

from ..layers import conv_padding
from . import comment, describe, header, join_lines

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


def _torch_sequential(
    nodes, prefix: str, lines: list[str], keys: dict[str, str], bodies: list[str]
) -> None:
    """Lines of an nn.Sequential's arguments; keys maps §8 keys to state_dict keys. A residual's
    body is built first, as a variable in `bodies` (innermost first): nested expressions would
    pass Python's limit of 200 nested parentheses at 100 nested residuals."""
    index = 0
    for node in nodes:
        lines.append(comment(describe(node)))
        if node.op == "residual":
            inner: list[str] = []
            _torch_sequential(node.body, f"{prefix}{index}.body.", inner, keys, bodies)
            name = "body_" + node.id.replace(".", "_")
            bodies += [f"{name} = nn.Sequential(", *("    " + s for s in inner), ")"]
            lines.append(f"Residual({name}),")
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


def torch_source(spec) -> str:
    lines: list[str] = []
    keys: dict[str, str] = {}
    bodies: list[str] = []
    _torch_sequential(spec.ir.nodes, "layers.", lines, keys, bodies)
    residual = any(n.op == "residual" for n in spec.ir.walk())
    imports = (
        "import numpy as np\nimport torch\nfrom safetensors.numpy import load_file\n"
        "from torch import nn"
    )
    body = textwrap.indent(join_lines(lines), " " * 12)
    residuals = textwrap.indent(join_lines(bodies), " " * 8) + "\n" if bodies else ""
    state_keys = join_lines(f"    {k!r}: {v!r}," for k, v in keys.items())
    return f'''{header(spec, "torch", imports)}
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
{residuals}        self.layers = nn.Sequential(
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
