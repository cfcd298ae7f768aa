"""The train section's table (LANGUAGE.md §6): settings, losses, optimizers, metrics.

Like the layer registry, each entry declares its arguments once; `bind_train` turns a
`train { ... }` body into a plain dict with every default filled in, which goes into the IR.
"""

from __future__ import annotations

from ..diagnostics import Diagnostics, Span, did_you_mean
from ..grammar.syntax import Call
from ..layers.args import Arg, bind

_POS = dict(low=0, low_open=True)

LOSSES: dict[str, tuple[Arg, ...]] = {
    "mse": (),
    "mae": (),
    "huber": (Arg("delta", "float", 1.0, **_POS),),
    "bce": (),
    "crossentropy": (),
}

_ADAM = (
    Arg("lr", "float", 0.001, **_POS),
    Arg("beta1", "float", 0.9, low=0, high=1, high_open=True),
    Arg("beta2", "float", 0.999, low=0, high=1, high_open=True),
    Arg("eps", "float", 1e-7, **_POS),
)

OPTIMIZERS: dict[str, tuple[Arg, ...]] = {
    "adam": _ADAM,
    "adamw": (*_ADAM, Arg("weight_decay", "float", 0.01, low=0)),
    "sgd": (
        Arg("lr", "float", 0.01, **_POS),
        Arg("momentum", "float", 0.0, low=0, high=1),
        Arg("nesterov", "bool", False),
    ),
    "rmsprop": (
        Arg("lr", "float", 0.001, **_POS),
        Arg("rho", "float", 0.9, low=0, high=1, high_open=True),
        Arg("eps", "float", 1e-7, **_POS),
    ),
}

METRICS = ("mae", "mse", "accuracy")

# The largest seed: the spec's `seed`, --seed and the API's seed= share it; every backend's RNG
# (NumPy's SeedSequence, torch.manual_seed) takes it.
SEED_MAX = 2**63 - 1

EARLY_STOP = (
    Arg("patience", "int", 10, low=0),
    Arg("min_delta", "float", 0.0, low=0),
    Arg("restore_best", "bool", True),
)

# `checkpoint every=1 keep=3` (§12): a checkpoint every `every` epochs, the newest `keep` kept.
CHECKPOINT = (
    Arg("every", "int", 1, low=1),
    Arg("keep", "int", 3, low=1),
)

# A setting written without its value (`loss`, `epochs`) is a mistake, not a request for the
# default; only `shuffle` (= true), `early_stop` and `checkpoint` (= their defaults) read well
# bare.
SETTINGS: dict[str, tuple[Arg, ...]] = {
    "loss": (Arg("loss", "choice", positional=True, choices=tuple(LOSSES)),),
    "optimizer": (Arg("optimizer", "choice", positional=True, choices=tuple(OPTIMIZERS)),),
    "batch": (Arg("size", "int", positional=True, low=1),),
    "epochs": (Arg("count", "int", positional=True, low=1),),
    "metrics": (),  # variadic names, bound by hand below
    "early_stop": EARLY_STOP,
    "seed": (Arg("value", "int", positional=True, low=0, high=SEED_MAX),),
    "shuffle": (Arg("enabled", "bool", True, positional=True),),
    "checkpoint": CHECKPOINT,
}


def _choice_with_kwargs(
    call: Call, table: dict[str, tuple[Arg, ...]], diags: Diagnostics, names
) -> dict | None:
    """`loss huber delta=2` / `optimizer sgd lr=0.1`: the first positional picks the entry."""
    owner = call.name
    head = bind(owner, SETTINGS[owner], call.args[:1], (), call.span, diags, names)
    if head is None:
        return None
    name = head[owner]
    params = bind(
        f"{owner} {name}", table[name], call.args[1:], call.kwargs, call.span, diags, names
    )
    return None if params is None else {"name": name, **params}


def defaults() -> dict:
    """The train settings of a spec without a train section."""
    return {
        "loss": {"name": "mse"},
        "optimizer": {"name": "adam", **{a.name: a.default for a in _ADAM}},
        "batch": 32,
        "epochs": 10,
        "metrics": [],
        "early_stop": None,
        "seed": 0,
        "shuffle": True,
        "checkpoint": None,
    }


def known_setting(
    section: str, call: Call, table, seen: dict[str, Span], diags: Diagnostics, repeatable=()
) -> bool:
    """A setting of `table` not given before (unless repeatable); E212 / E207 otherwise."""
    if call.name not in table:
        diags.error(
            "E212",
            f"unknown {section} setting '{call.name}'{did_you_mean(call.name, table)}",
            call.span,
            "settings: " + ", ".join(table),
        )
        return False
    if call.name in seen and call.name not in repeatable:
        diags.error(
            "E207",
            f"{section} setting '{call.name}' given twice (first at line {seen[call.name].line})",
            call.span,
        )
        return False
    seen[call.name] = call.span
    return True


def bind_train(calls: list[Call], diags: Diagnostics, names: tuple[str, ...] = ()) -> dict:
    """Bind resolved setting calls; later duplicates are errors, unknown settings get a hint."""
    out = defaults()
    seen: dict[str, Span] = {}
    for call in calls:
        if not known_setting("train", call, SETTINGS, seen, diags):
            continue
        if call.name == "loss":
            value = _choice_with_kwargs(call, LOSSES, diags, names)
        elif call.name == "optimizer":
            value = _choice_with_kwargs(call, OPTIMIZERS, diags, names)
        elif call.name == "metrics":
            value = _metrics(call, diags)
        elif call.name in ("early_stop", "checkpoint"):
            table = SETTINGS[call.name]
            value = bind(call.name, table, call.args, call.kwargs, call.span, diags, names)
        else:
            params = bind(
                call.name, SETTINGS[call.name], call.args, call.kwargs, call.span, diags, names
            )
            value = None if params is None else next(iter(params.values()))
        if value is not None:
            out[call.name] = value
    return out


def _metrics(call: Call, diags: Diagnostics) -> list[str] | None:
    names = []
    for kw in call.kwargs:
        diags.error("E202", f"metrics: unknown keyword '{kw.name}'", kw.span, "list metric names")
    for v in call.args:
        if v.kind != "name" or v.text not in METRICS:
            diags.error(
                "E203",
                f"metrics: unknown metric '{v.text}'{did_you_mean(v.text, METRICS)}",
                v.span,
                "valid: " + ", ".join(METRICS),
            )
        elif v.text in names:
            diags.error("E207", f"metrics: '{v.text}' given twice", v.span)
        else:
            names.append(v.text)
    return names
