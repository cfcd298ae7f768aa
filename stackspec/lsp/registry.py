"""What the registries say, as the text that hover and completion show: signatures, argument
defaults and the values an argument takes. Nothing here is declared twice: every name comes
from the layer registry, the train section's table or the data section's."""

from __future__ import annotations

from ..compiler import data_settings, settings
from ..layers import ACTIVATIONS, ALIASES, LAYERS, Arg

STATEMENT_KEYWORDS = (
    "input",
    "let",
    "block",
    "repeat",
    "residual",
    "concat",
    "add",
    "train",
    "data",
)
PADDING = ("valid", "same")
BOOLS = ("true", "false")
# The train settings whose first positional argument picks an entry of a table, and the table:
# the entry's own arguments follow (`optimizer sgd lr=0.1 momentum=0.9`).
CHOOSERS = {
    "loss": settings.LOSSES,
    "optimizer": settings.OPTIMIZERS,
    "schedule": settings.SCHEDULES,
}


def value_text(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, tuple):
        return str(v[0]) if len(set(v)) == 1 else "x".join(map(str, v))
    if isinstance(v, float):
        return repr(v)
    return str(v)


def arg_text(a: Arg) -> str:
    """`units`, `[activation=linear]` (optional positional), `init=glorot_uniform`."""
    if a.positional:
        return a.name if a.required else f"[{a.name}={value_text(a.default)}]"
    if a.required or a.default is None:
        return f"{a.name}=…"
    return f"{a.name}={value_text(a.default)}"


def signature(name: str, args: tuple[Arg, ...]) -> str:
    return " ".join([name, *(arg_text(a) for a in args)])


def choices(a: Arg) -> tuple[str, ...]:
    """The symbols an argument takes (activations, initializers, padding, booleans)."""
    if a.type == "choice":
        return a.choices + tuple(a.aliases)
    if a.type == "padding":
        return PADDING
    if a.type == "bool":
        return BOOLS
    return ()


def layer_args(name: str) -> tuple[Arg, ...]:
    kind = LAYERS.get(ALIASES.get(name, name))
    return kind.args if kind else ()


def setting_args(call_name: str, first: str | None) -> tuple[Arg, ...]:
    """A train setting's arguments; for a chooser with its entry named, that entry's too."""
    args = settings.SETTINGS.get(call_name, ())
    table = CHOOSERS.get(call_name)
    if table and first in table:
        return args + table[first]
    return args


def setting_signature(name: str, first: str | None) -> str:
    """`optimizer sgd lr=0.01 momentum=0.0 nesterov=false`, or `loss {mse|mae|...}` before
    the entry is named."""
    table = CHOOSERS.get(name)
    if table is None:
        return signature(name, settings.SETTINGS.get(name, ()))
    if first in table:
        return signature(f"{name} {first}", table[first])
    return f"{name} {{{'|'.join(table)}}}"


def setting_doc(section: str, name: str) -> str:
    if section == "data":
        return data_settings.SETTINGS.get(name, "")
    if name in CHOOSERS:
        return "one of: " + ", ".join(CHOOSERS[name])
    if name == "metrics":
        return "names among: " + ", ".join(settings.METRICS)
    return ""


def activation_names() -> tuple[str, ...]:
    return ACTIVATIONS + tuple(ALIASES)
