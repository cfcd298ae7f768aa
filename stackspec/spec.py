"""The Python API's Spec: a validated spec, ready to summarize or compile (LANGUAGE.md §10)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .compiler.ir import IR
from .compiler.pipeline import compile_source
from .diagnostics import Diagnostic
from .grammar.syntax import Program
from .inputs import Bound, display_name, read_text, universal_newlines
from .limits import DEFAULT, Limits, size_text

if TYPE_CHECKING:  # pathlib (with urllib.parse and ipaddress) is ~6 ms `check` does not need
    from pathlib import Path


class Spec:
    """A parsed and validated spec. Build one with `stackspec.parse` or `stackspec.load`."""

    def __init__(
        self, source: str, file: str, program: Program, ir: IR, warnings: list[Diagnostic]
    ):
        self.source = source
        self.file = file
        self.program = program
        self.ir = ir
        self.warnings = warnings

    def summary(self) -> str:
        from .compiler.summary import summary

        return summary(self.ir)

    def compile(self, backend: str = "numpy", **options):
        """A trainable model: `numpy` (the default) or `torch` (a real torch.nn.Module)."""
        from .backends import compile_model

        return compile_model(self, backend, **options)

    def read_data(self, path, target: str | None = None, encoding: dict | None = None):
        """A CSV read by this spec's rules (its data section, if any): a Dataset with `X`, `y`
        (None without a target) and `encoding`, what the data section learned from this file's
        rows, or the given `encoding` (a trained model's) applied unchanged. Setting
        `model.encoding = ds.encoding` stores it with the model's weights. With the train
        section's `weight_column` in the file, `weights` holds it (for fit's sample_weight)."""
        from .training.data_section import dataset_for, read_learning, section_in_effect

        section = section_in_effect(self.ir, target)
        need = target is not None or bool(section and section["target"])
        if section is not None and encoding is None:
            return read_learning(path, self.ir, section, need)
        return dataset_for(self.ir, section, path, target, encoding, need, "read")

    def __repr__(self) -> str:
        return f"<Spec {self.file}: {len(self.ir.nodes)} layers, {self.ir.param_count:,} params>"


def parse(
    text: str,
    file: str = "<spec>",
    overrides: dict[str, str] | None = None,
    max_params: int | None = None,
    limits: Limits = DEFAULT,
) -> Spec:
    """Parse and validate spec text; raises SpecError with every diagnostic if it has errors.
    `limits` overrides the §7 limits; `max_params`, when given, replaces `limits.params`."""
    result = compile_source(text, file, overrides, max_params, limits)
    result.diags.raise_if_errors(text)
    warnings = [d for d in result.diags.sorted() if d.severity == "warning"]
    return Spec(text, file, result.program, result.ir, warnings)


def read_spec(path: str | Path, max_bytes: int = DEFAULT.file_bytes) -> str:
    """A spec file's text (`-` is stdin), or a SpecError that says why it cannot be read:
    E001 (missing, a folder, a device, ...), E404 (larger than `max_bytes`), E101 (not UTF-8).
    Line endings become `\\n`, as Python's text mode reads them."""
    bound = Bound(
        max_bytes,
        "E404",
        f"spec file is larger than {size_text(max_bytes)}",
        "raise the limit with --max-file-size if this is intended",
    )
    text = read_text(path, "spec file", "E001", bound, text_code="E101")
    return universal_newlines(text)


def load(
    path: str | Path,
    overrides: dict[str, str] | None = None,
    max_params: int | None = None,
    limits: Limits = DEFAULT,
) -> Spec:
    """Read, parse and validate a spec file (see `parse` for the arguments)."""
    text = read_spec(path, limits.file_bytes)
    return parse(text, display_name(path), overrides, max_params, limits)
