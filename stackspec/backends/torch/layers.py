"""PyTorch layers: one function per registry key, each taking an IR node and returning the native
modules that compute it (nn.Linear, then nn.ReLU, ...) as descriptions: a class of torch.nn and
its arguments. modules.py builds them; `compile --emit python` prints them. So this module never
imports torch, emitting needs none, and the compiled and the emitted model are the same.

The model is one flat nn.Sequential of these modules (a residual is one module holding the flat
sequence of its body), exactly what a user would write by hand; `state_keys` says where each
weight-file tensor lives in it. Semantics are LANGUAGE.md §5; the comments note where a torch
default differs from ours.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ...layers import LAYERS, STRUCTURAL, activation_params, conv1d_padding, conv_padding

# The classes torch.nn lacks, defined in modules.py, attention.py and lookups.py; the emitted
# source copies them.
LOCAL = (
    "Residual",
    "Concat",
    "Add",
    "Normalize",
    "SwapAxes",
    "Recurrent",
    "Attention",
    "Embedding",
    "PositionEmbedding",
)


@dataclass(frozen=True)
class Module:
    """`nn.<cls>(*args, **kwargs)`; a class in LOCAL is modules.py's own (without `nn.`), and
    for cls "Residual" it is `Residual(nn.Sequential(*body))`, for "Concat" and "Add" (joins)
    `Concat(nn.Sequential(*branch), ..., **kwargs)`, one Sequential per branch.
    `tensors` maps attribute names to the weight-file keys of the node tensors it holds;
    `node` is the IR node it computes (part of), for the emitted source's comments."""

    cls: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    tensors: dict[str, str] = field(default_factory=dict)
    body: tuple[Module, ...] = ()
    branches: tuple[tuple[Module, ...], ...] = ()
    node: object = field(default=None, compare=False, repr=False)


def modules(nodes) -> tuple[Module, ...]:
    """The flat sequence of modules computing `nodes`, from the functions named as their keys."""
    return tuple(replace(m, node=n) for n in nodes for m in layer_function(n.op)(n))


def layer_function(op: str):
    try:
        return LAYER_FUNCTIONS[op]
    except KeyError:
        raise NotImplementedError(f"the torch backend has no layer '{op}'") from None


def state_keys(sequence: tuple[Module, ...], prefix: str = "layers.") -> dict[str, str]:
    """Weight-file key -> state_dict key of every tensor in `sequence`, numbered as an
    nn.Sequential numbers its modules; in the order of IR.tensors()."""
    keys = {}
    for i, m in enumerate(sequence):
        keys.update({key: f"{prefix}{i}.{name}" for name, key in m.tensors.items()})
        keys.update(state_keys(m.body, f"{prefix}{i}.body."))
        for j, branch in enumerate(m.branches):
            keys.update(state_keys(branch, f"{prefix}{i}.branches.{j}."))
    return keys


def _then(name: str) -> tuple[Module, ...]:
    """dense/conv2d's activation module, with the registry's defaults; none for linear."""
    return () if name == "linear" else (activation(name, activation_params(name)),)


def dense(node) -> tuple[Module, ...]:
    p = node.params
    linear = Module("Linear", (node.input_shape[-1], p["units"]), {"bias": p["bias"]}, node.keys())
    return (linear, *_then(p["activation"]))


def conv2d(node) -> tuple[Module, ...]:
    p = node.params
    top, bottom, left, right = conv_padding(p)
    symmetric = (top, left) == (bottom, right)
    conv = Module(
        "Conv2d",
        (node.input_shape[0], p["filters"]),
        {
            "kernel_size": p["kernel"],
            "stride": p["stride"],
            "padding": (top, left) if symmetric else 0,
            "bias": p["bias"],
        },
        node.keys(),
    )
    if symmetric:
        return (conv, *_then(p["activation"]))
    # `same` with an even kernel: the odd pixel goes at the bottom/right (conv_padding). An
    # explicit pad, as torch would do internally for padding="same" (with a warning).
    return (Module("ZeroPad2d", ((left, right, top, bottom),)), conv, *_then(p["activation"]))


def dropout(node) -> tuple[Module, ...]:
    # nn.Dropout draws its masks from torch's global RNG, which TorchModel seeds from the seed.
    return (Module("Dropout", (node.params["rate"],)),)


def batchnorm(node) -> tuple[Module, ...]:
    p, rank = node.params, len(node.input_shape)
    # Our momentum is the fraction of the running statistic kept (Keras); torch's is the
    # fraction replaced. torch already updates running_var with the unbiased batch variance.
    kwargs = {"eps": p["eps"], "momentum": 1.0 - p["momentum"], "affine": p["affine"]}
    cls = "BatchNorm2d" if rank == 3 else "BatchNorm1d"
    norm = Module(cls, (node.input_shape[-1 if rank == 2 else 0],), kwargs, node.keys())
    # A sequence's features are last; BatchNorm1d's statistics over (N, T) want (N, F, T).
    return _channels_first(norm) if rank == 2 else (norm,)


def normalize(node) -> tuple[Module, ...]:
    # torch.nn has no standardization with fixed statistics: modules.py's Normalize, whose
    # buffers `mean` and `var` are the node's state.
    return (Module("Normalize", (node.input_shape[0],), {}, node.keys()),)


def layernorm(node) -> tuple[Module, ...]:
    p = node.params
    kwargs = {"eps": p["eps"], "elementwise_affine": p["affine"]}
    return (Module("LayerNorm", (node.input_shape[-1],), kwargs, node.keys()),)


def rmsnorm(node) -> tuple[Module, ...]:
    # eps explicitly: torch's default (None) is the machine epsilon of the input's dtype.
    kwargs = {"eps": node.params["eps"], "elementwise_affine": node.params["affine"]}
    return (Module("RMSNorm", (node.input_shape[-1],), kwargs, node.keys()),)


def maxpool2d(node) -> tuple[Module, ...]:
    p = node.params
    # torch pads max pooling with -inf, as §4 says.
    return (Module("MaxPool2d", (p["size"],), {"stride": p["stride"], "padding": p["padding"]}),)


def avgpool2d(node) -> tuple[Module, ...]:
    p = node.params
    kwargs = {"stride": p["stride"], "padding": p["padding"], "count_include_pad": False}
    return (Module("AvgPool2d", (p["size"],), kwargs),)


def _channels_first(*modules: Module) -> tuple[Module, ...]:
    """torch's 1-D layers take (N, F, T); our sequences are (N, T, F): swap the axes around."""
    return (Module("SwapAxes"), *modules, Module("SwapAxes"))


def conv1d(node) -> tuple[Module, ...]:
    p = node.params
    left, right = conv1d_padding(p)
    kwargs = {
        "kernel_size": p["kernel"],
        "stride": p["stride"],
        "padding": left if left == right else 0,
        "dilation": p["dilation"],
        "bias": p["bias"],
    }
    conv = Module("Conv1d", (node.input_shape[1], p["filters"]), kwargs, node.keys())
    # `same` with an even span: the odd step on the right (conv1d_padding), an explicit pad.
    pad = (Module("ConstantPad1d", ((left, right), 0.0)),) if left != right else ()
    # The activation after the swap back: softmax is over the filters, the last axis.
    return (*_channels_first(*pad, conv), *_then(p["activation"]))


def maxpool1d(node) -> tuple[Module, ...]:
    p = node.params
    kwargs = {"stride": p["stride"], "padding": p["padding"]}  # torch pads max pooling with -inf
    return _channels_first(Module("MaxPool1d", (p["size"],), kwargs))


def avgpool1d(node) -> tuple[Module, ...]:
    p = node.params
    kwargs = {"stride": p["stride"], "padding": p["padding"], "count_include_pad": False}
    return _channels_first(Module("AvgPool1d", (p["size"],), kwargs))


def globalavgpool(node) -> tuple[Module, ...]:
    if len(node.input_shape) == 2:
        return (Module("SwapAxes"), Module("AdaptiveAvgPool1d", (1,)), Module("Flatten"))
    return (Module("AdaptiveAvgPool2d", (1,)), Module("Flatten"))


def globalmaxpool(node) -> tuple[Module, ...]:
    if len(node.input_shape) == 2:
        return (Module("SwapAxes"), Module("AdaptiveMaxPool1d", (1,)), Module("Flatten"))
    return (Module("AdaptiveMaxPool2d", (1,)), Module("Flatten"))


def reshape(node) -> tuple[Module, ...]:
    # Flatten, then nn.Unflatten to the target: both native, row-major as NumPy's reshape.
    shape = tuple(node.params["shape"])
    return (Module("Flatten"),) + ((Module("Unflatten", (1, shape)),) if len(shape) > 1 else ())


def upsample2d(node) -> tuple[Module, ...]:
    return (Module("Upsample", (), {"scale_factor": node.params["size"], "mode": "nearest"}),)


def flatten(node) -> tuple[Module, ...]:
    return (Module("Flatten"),)


def prelu(node) -> tuple[Module, ...]:
    # nn.PReLU's slopes act on axis 1, the feature of (N, F) and the channel of (N, C, H, W);
    # a sequence's features are last, so (N, T, F) is swapped to (N, F, T) around it.
    rank = len(node.input_shape)
    kwargs = {"num_parameters": node.input_shape[-1 if rank == 2 else 0], "init": 0.25}
    act = Module("PReLU", (), kwargs, node.keys())
    return _channels_first(act) if rank == 2 else (act,)


def embedding(node) -> tuple[Module, ...]:
    # nn.Embedding behind the check of the float ids (lookups.py); its table is `embed.weight`.
    p = node.params
    return (
        Module("Embedding", (p["vocab"], p["dim"]), {}, {"embed.weight": node.keys()["weight"]}),
    )


def posembed(node) -> tuple[Module, ...]:
    return (Module("PositionEmbedding", node.input_shape, {}, node.keys()),)


def _recurrent(node, cls: str) -> tuple[Module, ...]:
    # nn.LSTM/nn.GRU return (outputs, state): modules.py's Recurrent keeps the outputs, or their
    # last step. Its module is `rnn`, whose tensors of layer 0 are the node's.
    p = node.params
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    suffixes = ("", "_reverse") if p["bidirectional"] else ("",)
    keys = node.keys()
    tensors = {f"rnn.{n}_l0{s}": keys[n + s] for s in suffixes for n in names}
    kwargs = {"bidirectional": p["bidirectional"], "return_sequences": p["return_sequences"]}
    return (Module("Recurrent", (cls, node.input_shape[-1], p["units"]), kwargs, tensors),)


def lstm(node) -> tuple[Module, ...]:
    return _recurrent(node, "LSTM")


def gru(node) -> tuple[Module, ...]:
    # nn.GRU is reset-after (r multiplies W_hn h + b_hn), as our GRU and Keras's default.
    return _recurrent(node, "GRU")


# The registry's projection names -> the Attention module's nn.Linear attributes.
ATTENTION_PROJECTIONS = {"q": "query", "k": "key", "v": "value", "o": "output"}


def attention(node) -> tuple[Module, ...]:
    # attention.py's Attention: nn.Linear projections (our tensors are nn.Linear's layout) and
    # scaled_dot_product_attention; q_weight lives at query.weight, o_bias at output.bias.
    p = node.params
    tensors = {}
    for name, key in node.keys().items():
        projection, kind = name.split("_")
        tensors[f"{ATTENTION_PROJECTIONS[projection]}.{kind}"] = key
    args = (node.input_shape[-1], p["heads"], p["key_dim"])
    return (Module("Attention", args, {"causal": p["causal"], "bias": p["bias"]}, tensors),)


def residual(node) -> tuple[Module, ...]:
    return (Module("Residual", body=modules(node.body)),)


def concat(node) -> tuple[Module, ...]:
    # torch.cat on the feature axis: the last of (N, F) and (N, T, F), the channels of images.
    dim = 1 if len(node.output_shape) == 3 else -1
    branches = tuple(modules(b) for b in node.branches)
    return (Module("Concat", (), {"dim": dim}, branches=branches),)


def add(node) -> tuple[Module, ...]:
    return (Module("Add", branches=tuple(modules(b) for b in node.branches)),)


# Activations: the class of torch.nn, and fixed keywords. The node's params (or, after dense
# and conv2d, the registry's defaults) pass as keywords, renamed where torch names them otherwise.
ACTIVATIONS = {
    "linear": Module("Identity"),
    "relu": Module("ReLU"),
    "sigmoid": Module("Sigmoid"),
    "tanh": Module("Tanh"),
    "softmax": Module("Softmax", kwargs={"dim": -1}),
    "gelu": Module("GELU"),  # exact (erf), torch's default
    "silu": Module("SiLU"),
    "elu": Module("ELU"),
    "selu": Module("SELU"),
    "leaky_relu": Module("LeakyReLU"),
    # threshold=20 returns x where log1p(exp(x)) - x < 3e-9: the same in float32.
    "softplus": Module("Softplus"),
    "gelu_tanh": Module("GELU", kwargs={"approximate": "tanh"}),
    "mish": Module("Mish"),
    "relu6": Module("ReLU6"),
    "hard_sigmoid": Module("Hardsigmoid"),  # relu6(x + 3) / 6, as Keras 3's
    "hard_swish": Module("Hardswish"),
    "log_softmax": Module("LogSoftmax", kwargs={"dim": -1}),
}
RENAMED = {"slope": "negative_slope"}


def activation(name: str, params: dict) -> Module:
    base = ACTIVATIONS[name]
    kwargs = {RENAMED.get(k, k): v for k, v in params.items()}
    return replace(base, kwargs={**base.kwargs, **kwargs})


def activation_layer(node) -> tuple[Module, ...]:
    """Every activation layer (`relu`, `elu alpha=0.5`)."""
    return (activation(node.op, node.params),)


# Dispatch by name: every registry key (and residual) whose function this module defines, and
# the activations. tests/test_torch_backend.py fails if a key has none.
LAYER_FUNCTIONS = {
    name: globals()[name] if callable(globals().get(name)) else activation_layer
    for name in (*LAYERS, *STRUCTURAL)
    if callable(globals().get(name)) or name in ACTIVATIONS
}
