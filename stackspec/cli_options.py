"""The command line's shared options: input paths, `--set`, the §7 `--max-*` limits, backends;
and the steps that several commands take with them (load the spec, build the model, load weights).

Each is a decorator or a click type that several commands of cli.py use; what an option means
is decided by the library, not here.
"""

from __future__ import annotations

import click

from .limits import DEFAULT as DEFAULT_LIMITS
from .limits import DEPTH_CEILING, Limits

# Input paths are not checked by click: the library reports a missing, unreadable or special
# file with its own code (E001 spec, E501 data, E601 weights) and exit 1, as the docs say.
# `-` is stdin (at most one input of a command).
INPUT = click.Path(readable=False, allow_dash=True)
DATA_HELP = "The CSV file (`-` reads stdin)."


class FiniteFloatRange(click.FloatRange):
    """A FloatRange that also refuses nan (every comparison with nan is false, so FloatRange
    lets it through) and infinities: usage errors, exit 2."""

    def convert(self, value, param, ctx):
        import math

        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


def one_stdin(**paths: str | None) -> None:
    """Only one input can come from stdin: `-` for two of them is a usage error."""
    dashes = [name for name, path in paths.items() if path == "-"]
    if len(dashes) > 1:
        both = " and ".join(dashes)
        raise click.UsageError(f"only one input can be read from stdin (`-`), not {both}")


def parse_sets(values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise click.BadParameter(f"expected NAME=VALUE, got {item!r}", param_hint="--set")
        out[name.strip()] = value.strip()
    return out


def _limit(field: str):
    def store(ctx: click.Context, param, value) -> None:
        ctx.meta.setdefault("stackspec.limits", {})[field] = value

    return store


# The §7 limits: (flag, Limits field, type, help).
LIMIT_OPTIONS = (
    (
        "--max-params",
        "params",
        click.IntRange(min=1),
        "Refuse models with more trainable parameters.",
    ),
    ("--max-layers", "layers", click.IntRange(min=1), "Refuse specs expanding to more layers."),
    (
        "--max-depth",
        "depth",
        click.IntRange(1, DEPTH_CEILING),
        "Refuse deeper nesting of braces, blocks and repeats.",
    ),
    ("--max-file-size", "file_bytes", click.IntRange(min=1), "Refuse larger spec files (bytes)."),
    (
        "--max-memory",
        "memory",
        click.IntRange(min=1),
        "Refuse specs whose estimated activation memory for one training batch is larger (bytes).",
    ),
)


def spec_options(f):
    f = click.option(
        "--set", "sets", multiple=True, metavar="NAME=VALUE", help="Override a `let` constant."
    )(f)
    return limit_options(f)


def limit_options(f):
    for flag, field, kind, text in reversed(LIMIT_OPTIONS):
        f = click.option(
            flag,
            type=kind,
            default=getattr(DEFAULT_LIMITS, field),
            show_default=True,
            help=text,
            expose_value=False,
            callback=_limit(field),
        )(f)
    return f


def current_limits() -> Limits:
    """The limits given by this command's --max-* flags."""
    return Limits(**click.get_current_context().meta.get("stackspec.limits", {}))


def model_inputs(f):
    """SPEC, --weights and --data: what evaluate and predict read."""
    f = click.option("--data", "data_path", required=True, type=INPUT, help=DATA_HELP)(f)
    f = click.option("--weights", required=True, type=INPUT)(f)
    return click.argument("spec", type=INPUT)(f)


def backend_options(f):
    f = click.option(
        "--device",
        type=click.Choice(["auto", "cpu", "cuda"]),
        default="auto",
        show_default=True,
        help="torch only: auto picks cuda when available.",
    )(f)
    f = click.option(
        "--backend", type=click.Choice(["numpy", "torch"]), default="numpy", show_default=True
    )(f)
    return f


def precision_options(f):
    """train's --precision and --compile (torch only; docs/scaling.md)."""
    f = click.option(
        "--compile",
        is_flag=True,
        help="torch only: train through torch.compile (needs a C++ compiler on the CPU).",
    )(f)
    f = click.option(
        "--precision",
        # fit_settings.PRECISIONS, written out: that module imports NumPy, which `check` avoids
        type=click.Choice(["32", "bf16", "16"]),
        default="32",
        show_default=True,
        help="torch only: training precision; bf16/16 autocast the steps (16 with a "
        "GradScaler), weights stay float32.",
    )(f)
    return f


def data_options(f):
    """--drop and --delimiter: over the spec's data section (LANGUAGE.md §11)."""
    f = click.option(
        "--delimiter",
        callback=_delimiter,
        help="auto, ',', ';', tab or '|' [default: the data section's, else ',']",
    )(f)
    f = click.option("--drop", multiple=True, help="A column to ignore (repeatable).")(f)
    return f


def _delimiter(ctx, param, value):
    from .compiler.data_settings import DELIMITERS

    words = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}
    value = words.get(value, value)
    if value is not None and value not in DELIMITERS:
        raise click.BadParameter("expected auto, ',', ';', tab or '|'")
    return value


def data_section(ir, target: str | None, drop, delimiter, need_target: bool = True, weight=None):
    """The data section in effect (None: the plain CSV rules); a usage error without a target
    where one is needed. `weight`: train's --weight-column."""
    from .training.data_section import section_in_effect

    section = section_in_effect(ir, target, drop, delimiter, weight)
    if need_target and target is None and (section is None or not section["target"]):
        raise click.UsageError(
            "Missing option '--target' (or a `target` line in the spec's data section)."
        )
    return section
