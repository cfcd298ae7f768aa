"""What a weight file must be before its tensors are used (LANGUAGE.md §8, issue 7).

The safetensors header is untrusted JSON: every field is checked here, by the format's own
rules, so a crafted file gets a plain E601 naming the tensor and the field instead of a
library exception. The rules: the header is one JSON object with no repeated key; `__metadata__`
(optional) maps strings to strings; every other key is a tensor with a known `dtype`, a `shape`
of non-negative integers and `data_offsets` [begin, end] whose length fits dtype and shape; the
tensors' data, sorted by offset, is contiguous from byte 0 and covers the whole data section.

Then the values: a non-finite weight (E607) or a negative batchnorm variance (E608) would only
turn every prediction into NaN, so such a file is refused at load, naming the tensor.
"""

from __future__ import annotations

import json
import math

import numpy as np

from ..diagnostics import Diagnostic, SpecError, plural

# Byte sizes of the dtypes safetensors names; F32 is the only one a spec accepts (E605 names
# the others), sub-byte types (F4, F6_*) are refused as unknown.
DTYPE_SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1}
DTYPE_SIZES.update({"U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1, "C64": 8})
DTYPE_SIZES.update({"F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1})
FIELDS = ("dtype", "shape", "data_offsets")
SHOWN = 60  # characters of a key or a bad value quoted in a message


def error(path, code: str, message: str, hint: str = "") -> SpecError:
    return SpecError([Diagnostic("error", code, message, hint=hint, file=str(path))])


def short(text: str, limit: int = SHOWN) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _json(value) -> str:
    """A bad value as the file wrote it, shortened."""
    try:
        return short(json.dumps(value))
    except (RecursionError, ValueError):
        return f"a deeply nested {type(value).__name__}"


class _Repeated(ValueError):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def _unique(pairs: list) -> dict:
    # json keeps the last of two equal keys; which one a reader sees is ambiguous, so refuse.
    out = {}
    for key, value in pairs:
        if key in out:
            raise _Repeated(key)
        out[key] = value
    return out


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")  # Python's json accepts NaN and Infinity


def parse_header(path, raw: bytes):
    """The header's JSON value; E601 if it is not strict JSON or repeats a key."""
    try:
        text = raw.decode("utf-8")
        return json.loads(text, object_pairs_hook=_unique, parse_constant=_no_constant)
    except _Repeated as e:
        message = f"corrupt safetensors header: the key '{short(e.key)}' appears twice"
        raise error(path, "E601", message) from None
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise error(path, "E601", "not a safetensors file (the header is not JSON)") from None


def check_header(path, header, body: int) -> None:
    """Raise E601 for the first field of `header` that breaks the format; `body` is the size of
    the data section (the bytes after the header)."""
    if not isinstance(header, dict):
        raise error(path, "E601", "not a safetensors file (the header is not a JSON object)")
    _check_metadata(path, header.get("__metadata__"))
    spans = [
        (*_check_entry(path, key, entry), key)
        for key, entry in header.items()
        if key != "__metadata__"
    ]
    _check_layout(path, spans, body)


def _corrupt(path, message: str) -> SpecError:
    return error(path, "E601", f"corrupt safetensors header: {message}")


def _check_metadata(path, meta) -> None:
    if meta is None:  # absent, or null: the library reads both as "no metadata"
        return
    if not isinstance(meta, dict):
        raise _corrupt(path, f"__metadata__ must be an object of strings, not {_json(meta)}")
    for key, value in meta.items():
        if not isinstance(value, str):
            message = f"__metadata__ '{short(key)}' must be a string, not {_json(value)}"
            raise _corrupt(path, message)


def _is_count(value) -> bool:
    return type(value) is int and value >= 0  # not bool, not float: JSON 2.0 is no size


def _check_entry(path, key: str, entry) -> tuple[int, int]:
    """(begin, end) of one tensor entry whose fields are all valid."""
    where = f"tensor '{short(key)}'"
    if not isinstance(entry, dict):
        message = f"{where} must be an object with {', '.join(FIELDS)}, not {_json(entry)}"
        raise _corrupt(path, message)
    for name in FIELDS:
        if name not in entry:
            raise _corrupt(path, f"{where} has no '{name}'")
    dtype, shape, offsets = (entry[name] for name in FIELDS)
    if not isinstance(dtype, str) or dtype not in DTYPE_SIZES:
        raise _corrupt(path, f"{where} has an unknown dtype {_json(dtype)}")
    if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
        message = f"{where}: shape must be a list of non-negative integers, not {_json(shape)}"
        raise _corrupt(path, message)
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(map(_is_count, offsets)):
        message = f"{where}: data_offsets must be [begin, end], two non-negative integers"
        raise _corrupt(path, f"{message}, not {_json(offsets)}")
    begin, end = offsets
    if end < begin:
        raise _corrupt(path, f"{where}: data_offsets [{begin}, {end}] end before they begin")
    need = DTYPE_SIZES[dtype] * math.prod(shape)
    if end - begin != need:
        message = f"{where} has {end - begin} bytes of data, its dtype and shape need {need}"
        raise _corrupt(path, message)
    return begin, end


def _check_layout(path, spans: list[tuple[int, int, str]], body: int) -> None:
    """The tensors' data, in offset order, is contiguous from 0 and fills the data section."""
    last = max((end for _, end, _ in spans), default=0)
    if last > body:
        raise error(
            path,
            "E601",
            f"truncated file: the tensors need {last} bytes of data, the file has {body}",
        )
    at = 0
    for begin, end, key in sorted(spans):
        if begin != at:
            what = "overlaps the tensor before it" if begin < at else "leaves a gap before it"
            message = f"tensor '{short(key)}' {what}: its data starts at byte {begin}, "
            raise _corrupt(path, f"{message}the data before it ends at byte {at}")
        at = end
    if at < body:
        extra = body - at
        message = f"{plural(extra, 'byte')} after the last tensor's data"
        raise error(path, "E601", f"corrupt safetensors file: {message}")


def check_values(path, tensors: dict[str, np.ndarray]) -> None:
    """Raise E607 for a NaN or infinite weight, E608 for a negative variance (batchnorm's
    running_var, normalize's var): the first problem, with a count of the tensors after it that
    have one too."""
    problems = []
    for key, a in tensors.items():
        bad = ~np.isfinite(a)
        if bad.any():
            problems.append(("E607", _non_finite(key, a, bad), HINT_NON_FINITE))
        elif key.endswith((".running_var", ".var")) and (a < 0).any():
            layer = "batchnorm running" if key.endswith(".running_var") else "normalize"
            problems.append(("E608", _negative(key, a), HINT_NEGATIVE.format(layer)))
    if problems:
        code, message, hint = problems[0]
        more = len(problems) - 1
        if more:
            hint += f"; {plural(more, 'more tensor')} after this one"
        raise error(path, code, message, hint)


HINT_NON_FINITE = (
    "the weights were saved from a run that diverged, or the file is damaged; retrain "
    "(a lower learning rate?)"
)
HINT_NEGATIVE = (
    "a {} variance is never negative: the file is damaged or was not written by stackspec"
)


def _at(a: np.ndarray, mask: np.ndarray) -> tuple[float, str]:
    """The first flagged value and its index, as a message shows them."""
    index = np.unravel_index(int(np.argmax(mask)), a.shape)
    where = ", ".join(str(int(i)) for i in index)
    return float(a[index]), where if len(index) == 1 else f"({where})"


def _non_finite(key: str, a: np.ndarray, bad: np.ndarray) -> str:
    value, where = _at(a, bad)
    n = int(bad.sum())
    values = "value" if n == 1 else "values"
    return f"tensor '{key}' has {n} non-finite {values} (the first, {value}, at index {where})"


def _negative(key: str, a: np.ndarray) -> str:
    value, where = _at(a, a < 0)
    n = int((a < 0).sum())
    s = "" if n == 1 else "s"
    return f"tensor '{key}' has {n} negative variance{s} (the first, {value:g}, at index {where})"
