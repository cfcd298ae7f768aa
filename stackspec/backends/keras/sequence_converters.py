"""The Keras classes of sequences (LANGUAGE.md §13), one function per class as converters.py:
Embedding, Conv1D, the 1-D poolings, LSTM, GRU, Bidirectional and MultiHeadAttention.

Keras's sequences are channels_last (steps, features), ours (T, F): the same array, so only
kernels change layout. Recurrent weights become torch's (layers/recurrent.py): Keras's kernel
(F, G*u) and recurrent kernel (u, G*u) transposed, the GRU's gate blocks z, r, h reordered to
our r, z, n. Keras's LSTM has one bias (4u), ours two whose sum acts: it becomes `bias_ih`, and
`bias_hh` is zeros (so our LSTM counts 4u more parameters per direction than Keras's). Keras's
GRU with reset_after=True keeps (2, 3u): the input bias and the recurrent one, ours exactly.
"""

from __future__ import annotations

import math

import numpy as np

from .convert import Refused, Stack
from .converters import _activation, _get, _no_extras, add_conv

CONV1D_TO_OURS = (2, 1, 0)  # Keras (kernel, F, filters) -> ours (filters, F, kernel)
GRU_GATES = (1, 0, 2)  # Keras's z, r, h blocks -> our r, z, n (and back: the same swap)


def _one(v, what: str) -> int:
    """Keras stores 1-D sizes as [n]; an int is the same."""
    v = v[0] if isinstance(v, list | tuple) and len(v) == 1 else v
    if not isinstance(v, int):
        raise Refused(f"{what} {v!r} is not one number")
    return v


def _channels_last(cfg: dict) -> None:
    if cfg.get("data_format", "channels_last") != "channels_last":
        raise Refused("data_format='channels_first' (features before steps) has no stackspec form")


def _same_1d(stack: Stack, size: int, stride: int, what: str) -> int:
    """Keras's `same` on the time axis as our integer padding, when it pads both ends alike."""
    t = stack.shape()[0]
    total = max((math.ceil(t / stride) - 1) * stride + size - t, 0)
    if total % 2:
        raise Refused(f"padding='same' pads one end more here; no stackspec {what} does")
    return total // 2


def Embedding(stack: Stack, cfg: dict, weights) -> None:
    if cfg.get("mask_zero"):
        raise Refused("mask_zero=True (masking id 0) has no stackspec equivalent")
    for key in ("embeddings_regularizer", "activity_regularizer", "embeddings_constraint"):
        if cfg.get(key):
            raise Refused(f"{key} has no stackspec equivalent")
    stack.add(f"embedding {cfg['input_dim']} {cfg['output_dim']}", weight=_get(weights, 0))


def Conv1D(stack: Stack, cfg: dict, weights) -> None:
    _no_extras(cfg)
    _channels_last(cfg)
    if cfg.get("groups", 1) != 1:
        raise Refused("groups has no stackspec equivalent")
    kernel, stride = _one(cfg["kernel_size"], "kernel_size"), _one(cfg.get("strides", 1), "strides")
    dilation = _one(cfg.get("dilation_rate", 1), "dilation_rate")
    act, after = _activation(stack, cfg.get("activation", "linear"), False)
    line = f"conv1d {cfg['filters']}{act}"
    line += "" if kernel == 3 else f" kernel={kernel}"
    line += "" if stride == 1 else f" stride={stride}"
    line += "" if dilation == 1 else f" dilation={dilation}"
    padding = cfg.get("padding", "valid")
    if padding == "same" and stride == 1:
        line += " padding=same"  # the odd step on the right, as Keras
    elif padding == "same":
        pad = _same_1d(stack, dilation * (kernel - 1) + 1, stride, "conv1d")
        line += f" padding={pad}" if pad else ""
    elif padding != "valid":
        raise Refused(f"padding {padding!r} has no stackspec equivalent (valid or same)")
    add_conv(stack, cfg, weights, line, CONV1D_TO_OURS, after)


def _pool1d(op: str, stack: Stack, cfg: dict) -> None:
    _channels_last(cfg)
    size = _one(cfg.get("pool_size", 2), "pool_size")
    stride = _one(cfg.get("strides") or size, "strides")
    line = op if size == 2 else f"{op} {size}"
    if stride != size:
        line += f" stride={stride}"
    if cfg.get("padding", "valid") == "same":
        pad = _same_1d(stack, size, stride, op)
        line += f" padding={pad}" if pad else ""
    stack.add(line)


def MaxPooling1D(stack: Stack, cfg: dict, weights) -> None:
    _pool1d("maxpool1d", stack, cfg)


def AveragePooling1D(stack: Stack, cfg: dict, weights) -> None:
    # Keras's `same` average leaves the padding out of the count, as ours does.
    _pool1d("avgpool1d", stack, cfg)


def _global(op: str, stack: Stack, cfg: dict) -> None:
    _channels_last(cfg)
    if cfg.get("keepdims"):
        raise Refused("keepdims=True has no stackspec equivalent")
    stack.add(op)


def GlobalAveragePooling1D(stack: Stack, cfg: dict, weights) -> None:
    _global("globalavgpool", stack, cfg)


def GlobalMaxPooling1D(stack: Stack, cfg: dict, weights) -> None:
    _global("globalmaxpool", stack, cfg)


def _recurrent_settings(cls: str, cfg: dict, notes: list[str]) -> None:
    """Refuse what our lstm/gru do not compute; dropout (training only) is left out, noted."""
    if cfg.get("activation", "tanh") != "tanh":
        raise Refused(f"activation {cfg['activation']!r}: stackspec's {cls.lower()} uses tanh")
    if cfg.get("recurrent_activation", "sigmoid") != "sigmoid":
        why = f"recurrent_activation {cfg['recurrent_activation']!r}"
        raise Refused(f"{why}: stackspec's {cls.lower()} uses sigmoid")
    if not cfg.get("use_bias", True):
        raise Refused(f"use_bias=False: stackspec's {cls.lower()} always has biases")
    for key in ("go_backwards", "stateful", "return_state"):
        if cfg.get(key):
            raise Refused(f"{key}=True has no stackspec equivalent")
    for key in ("kernel", "recurrent", "bias", "activity"):
        if cfg.get(f"{key}_regularizer") or cfg.get(f"{key}_constraint"):
            raise Refused(f"{key} regularizers and constraints have no stackspec equivalent")
    if cls == "GRU" and not cfg.get("reset_after", True):
        raise Refused(
            "reset_after=False (Keras 2's GRU: the reset gate before the recurrent product) has "
            "no stackspec equivalent; stackspec's gru is reset_after=True, torch's nn.GRU"
        )
    name = cfg.get("name", cls)
    if cfg.get("dropout") or cfg.get("recurrent_dropout"):
        notes.append(f"{name}: dropout and recurrent_dropout left out (training only)")


def _recurrent_tensors(cls: str, weights, suffix: str = "") -> dict:
    """Keras's kernel, recurrent kernel and bias as our weight_ih, weight_hh, bias_ih, bias_hh."""
    if weights is None:
        return {}
    kernel, recurrent, bias = (np.asarray(w, np.float32) for w in weights)
    if cls == "GRU":
        kernel, recurrent, bias = (_gates(v, axis=-1) for v in (kernel, recurrent, bias))
        bias_ih, bias_hh = bias[0], bias[1]
    else:
        bias_ih, bias_hh = bias, np.zeros_like(bias)  # only the sum of torch's two acts
    out = {"weight_ih": kernel.T, "weight_hh": recurrent.T, "bias_ih": bias_ih, "bias_hh": bias_hh}
    return {k + suffix: v for k, v in out.items()}


def _gates(v: np.ndarray, axis: int) -> np.ndarray:
    blocks = np.split(v, 3, axis=axis)
    return np.concatenate([blocks[g] for g in GRU_GATES], axis=axis)


def _recurrent(stack: Stack, cls: str, cfg: dict, weights, bidirectional: bool) -> None:
    _recurrent_settings(cls, cfg, stack.notes)
    line = f"{cls.lower()} {cfg['units']}"
    if cfg.get("return_sequences"):
        line += " return_sequences=true"
    tensors = _recurrent_tensors(cls, None if weights is None else weights[:3])
    if bidirectional:
        line += " bidirectional=true"
        tensors |= _recurrent_tensors(cls, None if weights is None else weights[3:], "_reverse")
    stack.add(line, **tensors)


def LSTM(stack: Stack, cfg: dict, weights) -> None:
    _recurrent(stack, "LSTM", cfg, weights, False)


def GRU(stack: Stack, cfg: dict, weights) -> None:
    _recurrent(stack, "GRU", cfg, weights, False)


def Bidirectional(stack: Stack, cfg: dict, weights) -> None:
    """concat of a forward LSTM/GRU and the same layer backwards, aligned in time: ours."""
    if cfg.get("merge_mode", "concat") != "concat":
        raise Refused(f"merge_mode {cfg['merge_mode']!r}: stackspec's bidirectional concatenates")
    inner = cfg["layer"]
    cls = inner.get("class_name")
    if cls not in ("LSTM", "GRU"):
        raise Refused(f"a Bidirectional {cls}: stackspec's are lstm and gru")
    forward = inner.get("config") or {}
    backward = cfg.get("backward_layer") or {}
    if backward:  # Keras writes its own (go_backwards=True) copy of the forward layer
        settings = ("units", "return_sequences", "activation", "recurrent_activation")
        settings += ("use_bias", "reset_after")
        back = backward.get("config") or {}
        if backward.get("class_name") != cls or any(
            back.get(k) != forward.get(k) for k in settings
        ):
            raise Refused("its backward layer is not the forward one's copy")
        _recurrent_settings(cls, {**back, "go_backwards": False}, [])
    _recurrent(stack, cls, forward, weights, True)


def MultiHeadAttention(stack: Stack, cfg: dict, weights) -> None:
    """Self-attention only: called on one tensor as query, value and key (a Functional chain)."""
    calls = stack.model.calls
    call = {} if calls is None else calls[stack.layer]
    for key, value in call.items():
        if key in ("use_causal_mask", "training", "return_attention_scores") and (
            value is None or isinstance(value, bool)
        ):
            if key == "return_attention_scores" and value:
                raise Refused("return_attention_scores=True has no stackspec equivalent")
            continue
        if value is not None:
            raise Refused(f"called with {key}={value!r}; stackspec's attention takes (x, x) only")
    heads, key_dim = cfg["num_heads"], cfg["key_dim"]
    if cfg.get("value_dim") not in (None, key_dim):
        raise Refused("value_dim differs from key_dim; stackspec's attention has one size")
    if cfg.get("output_shape") not in (None, [], [stack.shape()[-1]], stack.shape()[-1]):
        raise Refused("output_shape other than the input's features has no stackspec equivalent")
    if cfg.get("attention_axes") not in (None, [1], 1):
        raise Refused("attention_axes other than the steps has no stackspec equivalent")
    if cfg.get("use_gate") or cfg.get("sliding_window"):
        raise Refused("use_gate and sliding_window have no stackspec equivalent")
    _no_extras(cfg)
    if cfg.get("dropout"):
        stack.notes.append(f"{cfg.get('name')}: attention dropout left out (training only)")
    bias = cfg.get("use_bias", True)
    line = f"attention {heads} {key_dim}"
    line += " causal=true" if call.get("use_causal_mask") else ""
    line += "" if bias else " bias=false"
    stack.add(line, **_attention_tensors(weights, bias))


def _attention_tensors(weights, bias: bool) -> dict:
    """Keras's (F, h, k) q/k/v kernels and (h, k, F) output kernel as our (out, in) matrices."""
    if weights is None:
        return {}
    values = list(weights)
    out = {}
    for name in ("q", "k", "v", "o"):
        kernel = np.asarray(values.pop(0), np.float32)
        rows = kernel.shape[0] if name != "o" else kernel.shape[0] * kernel.shape[1]
        out[f"{name}_weight"] = kernel.reshape(rows, -1).T
        if bias:
            out[f"{name}_bias"] = np.asarray(values.pop(0), np.float32).reshape(-1)
    return out


SEQUENCE_LAYERS = {
    name: f
    for name, f in dict(globals()).items()
    if callable(f) and name[:1].isupper() and name not in ("Refused", "Stack")
}
