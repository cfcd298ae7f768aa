"""The activation memory of one training batch, estimated from the IR's shapes (limit E406).

Checked before anything is allocated, so a layer that would need hundreds of GiB (a 1x1 image
padded by 30,000 pixels) is refused by `check` instead of crashing `train`. The estimate is what
a training step holds at its peak, in float32: the input batch, and for each layer its output
plus what the backward pass keeps (the pre-activation of a layer with an activation, a
normalized copy, a dropout mask, a padded input, conv2d's im2col matrix). It is an estimate
of the order of magnitude, not an exact count: backends differ by small factors.
"""

from __future__ import annotations

import math

from ..diagnostics import Diagnostics
from ..layers import LAYERS, conv_padding
from .ir import IR, Node

BYTES_PER_VALUE = 4  # float32


def node_values(node: Node) -> int:
    """Values per example that `node` holds during a training step (its body's not included)."""
    out = math.prod(node.output_shape)
    kept = out
    kind = LAYERS.get(node.op)
    if node.params.get("activation", "linear") != "linear" or (kind and kind.keeps_output_copy):
        kept += out
    if node.op == "conv2d":
        c, h, w = node.input_shape
        top, bottom, left, right = conv_padding(node.params)
        if top or bottom or left or right:
            kept += c * (h + top + bottom) * (w + left + right)
        kh, kw = node.params["kernel"]
        kept += math.prod(node.output_shape[1:]) * c * kh * kw  # im2col
    elif node.op in ("maxpool2d", "avgpool2d") and node.params["padding"]:
        c, h, w = node.input_shape
        pad = 2 * node.params["padding"]
        kept += c * (h + pad) * (w + pad)
    return kept


def estimate(ir: IR, batch: int) -> int:
    """Bytes of activation memory for one training batch of `batch` examples."""
    values = math.prod(ir.input) + sum(node_values(n) for n in ir.walk())
    return values * batch * BYTES_PER_VALUE


def check(ir: IR, diags: Diagnostics, limit: int, batch: int, why: str = "") -> None:
    """E406 at the first layer where the running estimate passes `limit` bytes (the input
    batch counts before the first layer). `why` names where the batch size came from when it
    is not the train section (`--batch`)."""
    total = math.prod(ir.input) * batch * BYTES_PER_VALUE
    for node in ir.walk():
        total += node_values(node) * batch * BYTES_PER_VALUE
        if total > limit:
            diags.error(
                "E406",
                f"a training batch of {batch:,}{why} needs more than {approx(limit)} of activation "
                f"memory ({approx(total)} up to this layer)",
                node.name_span(),
                "reduce the layer's output size or the batch size; raise the limit with "
                "--max-memory if this machine has the memory",
            )
            return


def approx(n: int) -> str:
    """512 B, 3.2 KiB, 429.2 GiB: a byte count to a person."""
    if n < 1024:
        return f"{n} B"
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB"):
        n /= 1024
        if n < 1024 or unit == "PiB":
            return f"{n:.3g} {unit}" if n < 1000 else f"{n:,.0f} {unit}"
    raise AssertionError
