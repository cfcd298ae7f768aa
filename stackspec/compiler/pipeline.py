"""The front end's pipeline: text -> syntax tree -> expansion -> IR, collecting diagnostics."""

from __future__ import annotations

from dataclasses import replace

from ..diagnostics import Diagnostics, Span
from ..grammar import syntax as s
from ..grammar.parser import parse_program, paused_gc
from ..limits import DEFAULT, Limits
from ..records import record
from . import memory
from .ir import FUSED_ACTIVATIONS, IR, final_activation
from .resolve import resolve
from .settings import bind_train, check_classes
from .shapes import ShapeInference, input_shape


@record
class Compiled:
    """What the pipeline produced: the tree and the IR (None after errors)."""

    program: s.Program | None
    ir: IR | None
    diags: Diagnostics
    # Where each `repeat` and block call expanded to, as ranges of ir.walk() (resolve.py).
    expansions: tuple = ()


def compile_source(
    source: str,
    file: str = "<spec>",
    overrides: dict[str, str] | None = None,
    max_params: int | None = None,
    limits: Limits = DEFAULT,
) -> Compiled:
    """Parse, expand and check `source`; the IR is None if any error was found.
    `max_params`, when given, replaces `limits.params`."""
    if max_params is not None:
        limits = replace(limits, params=max_params)
    with paused_gc():
        return _compile(source, Diagnostics(file), overrides, limits)


def _compile(source: str, diags: Diagnostics, overrides, limits: Limits) -> Compiled:
    program = parse_program(source, diags, limits)
    if program is None:
        return Compiled(None, None, diags)
    resolved = resolve(program, diags, overrides, limits)
    train = bind_train(resolved.train, diags, resolved.names)
    data = None
    if resolved.data is not None:
        from .data_settings import bind_data  # only a spec with a data section imports it

        data = bind_data(resolved.data, diags)
    shape = input_shape(resolved.input, diags)
    inference = ShapeInference(diags, limits.params)
    if resolved.input is not None and shape is None:
        inference.missing_input_reported = True  # already reported as a bad input
    nodes, _ = inference.nodes(resolved.items, shape)
    if not resolved.input_seen and not inference.missing_input_reported:
        diags.error(
            "E302",
            "the spec has no `input`",
            Span.point(1, 1),
            "start the spec with `input N` or `input CxHxW`",
        )
    elif shape is not None and not resolved.items and not diags.has_errors:
        diags.warning(
            "W203", "the spec has no layers; the model is the identity", resolved.input.span
        )
    if diags.has_errors:
        return Compiled(program, None, diags)
    ir = IR(shape, tuple(nodes), train, data)
    _check_labels(ir, diags)
    check_classes(train, ir.output_shape, resolved.train, diags)
    memory.check(ir, diags, limits.memory, train["batch"])
    if diags.has_errors:
        return Compiled(program, None, diags)
    _lint(ir, diags)
    return Compiled(program, ir, diags, tuple(resolved.expansions))


def _check_labels(ir: IR, diags: Diagnostics) -> None:
    """A listed label set must match the model's output size (LANGUAGE.md §11)."""
    labels = (ir.data or {}).get("labels")
    if isinstance(labels, list) and ir.nodes and ir.output_shape[-1] != len(labels):
        diags.error(
            "E301",
            f"the data section lists {len(labels)} labels, but the model outputs "
            f"{ir.output_shape[-1]} values",
            ir.nodes[-1].name_span(),
            f"end with `dense {len(labels)}` for {len(labels)} classes",
        )


def _lint(ir: IR, diags: Diagnostics) -> None:
    """Warnings for legal but suspicious specs."""
    loss = ir.train["loss"]["name"]
    if not ir.nodes:
        return
    last = ir.nodes[-1]
    span = last.name_span()
    # A matching final activation is fused with the loss (§6); the other one is read as logits.
    act, wanted = final_activation(last), FUSED_ACTIVATIONS.get(loss)
    if wanted and act != wanted and act in FUSED_ACTIVATIONS.values():
        other = next(k for k, v in FUSED_ACTIVATIONS.items() if v == act)
        diags.warning(
            "W301",
            f"loss {loss} reads a final {act} as logits: only a final {wanted} is fused with it",
            span,
            f"end in `{wanted}` (or no activation) for {loss}, or use `loss {other}`",
        )
    if loss == "crossentropy" and ir.output_shape[-1] < 2:
        diags.warning(
            "W302",
            "crossentropy with a single output: every example is the same class",
            span,
            "end with `dense K` for K classes, or use `loss bce` for a binary target",
        )
