"""The train section's table (LANGUAGE.md §6): settings, losses, optimizers, metrics.

Like the layer registry, each entry declares its arguments once; `bind_train` turns a
`train { ... }` body into a plain dict with every default filled in, which goes into the IR.
"""

from __future__ import annotations

import math

from ..diagnostics import Diagnostics, Span, did_you_mean, example_shape
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

# A setting written without its value (`loss`, `epochs`) is a mistake, not a request for the
# default; only `shuffle` (= true) and `early_stop` (= its defaults) read well bare.
SETTINGS: dict[str, tuple[Arg, ...]] = {
    "loss": (Arg("loss", "choice", positional=True, choices=tuple(LOSSES)),),
    "optimizer": (Arg("optimizer", "choice", positional=True, choices=tuple(OPTIMIZERS)),),
    "batch": (Arg("size", "int", positional=True, low=1),),
    "epochs": (Arg("count", "int", positional=True, low=1),),
    "metrics": (),  # variadic names, bound by hand below
    "early_stop": EARLY_STOP,
    "seed": (Arg("value", "int", positional=True, low=0, high=SEED_MAX),),
    "shuffle": (Arg("enabled", "bool", True, positional=True),),
    "class_weight": (),  # `balanced` or a list of numbers, bound by hand below
    "weight_column": (),  # a column name, bound by hand below
}

# The losses whose targets are classes, which `class_weight` weights (LANGUAGE.md §12).
CLASS_LOSSES = ("crossentropy", "bce")


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
        "class_weight": None,
        "weight_column": None,
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
    loss_ok = True
    for call in calls:
        if not known_setting("train", call, SETTINGS, seen, diags):
            continue
        if call.name == "loss":
            value = _choice_with_kwargs(call, LOSSES, diags, names)
        elif call.name == "optimizer":
            value = _choice_with_kwargs(call, OPTIMIZERS, diags, names)
        elif call.name == "metrics":
            value = _metrics(call, diags)
        elif call.name == "early_stop":
            value = bind("early_stop", EARLY_STOP, call.args, call.kwargs, call.span, diags, names)
        elif call.name == "class_weight":
            value = _class_weight(call, diags)
        elif call.name == "weight_column":
            value = _column(call, diags)
        else:
            params = bind(
                call.name, SETTINGS[call.name], call.args, call.kwargs, call.span, diags, names
            )
            value = None if params is None else next(iter(params.values()))
        if value is not None:
            out[call.name] = value
        elif call.name == "loss":
            loss_ok = False  # reported; no loss to check class_weight against
    loss = out["loss"]["name"]
    if out["class_weight"] is not None and loss_ok and loss not in CLASS_LOSSES:
        diags.error(
            "E214",
            f"class_weight weights classes, but loss {loss} has none",
            seen["class_weight"],
            "class_weight needs loss crossentropy or bce; weight the rows of any loss with "
            "`weight_column`",
        )
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


def _class_weight(call: Call, diags: Diagnostics) -> str | list[float] | None:
    """`class_weight balanced` or `class_weight [w0, w1, ...]`: numbers >= 0, not all zero.
    Whether the list has one weight per class is checked against the model (check_classes)."""
    for kw in call.kwargs:
        diags.error("E202", f"class_weight: unknown keyword '{kw.name}'", kw.span)
    form = "write `class_weight balanced` or `class_weight [w0, w1, ...]`, a weight per class"
    if len(call.args) != 1:
        diags.error("E206", "class_weight: expected balanced or a list of weights", call.span, form)
        return None
    v = call.args[0]
    if v.kind == "name" and v.text == "balanced":
        return "balanced"
    if v.kind != "list":
        diags.error(
            "E204", f"class_weight: expected balanced or a list, got {v.text}", v.span, form
        )
        return None
    weights = []
    for item in v.value:
        if item.kind != "number" or isinstance(item.value, bool):
            diags.error("E204", f"class_weight: expected a number, got {item.text}", item.span)
        elif not (math.isfinite(item.value) and item.value >= 0):
            diags.error("E205", f"class_weight: weight {item.text} is not >= 0", item.span)
        else:
            weights.append(float(item.value))
    if len(weights) != len(v.value):
        return None
    if not any(weights):
        diags.error("E205", "class_weight: every weight is 0", v.span, "give some class a weight")
        return None
    return weights


def _column(call: Call, diags: Diagnostics) -> str | None:
    """`weight_column w` or `weight_column "my weights"`: one column name."""
    for kw in call.kwargs:
        diags.error("E202", f"{call.name}: unknown keyword '{kw.name}'", kw.span)
    if len(call.args) == 1 and call.args[0].kind in ("name", "string"):
        return str(call.args[0].value)
    where = call.args[0].span if call.args else call.span
    got = call.args[0].text if len(call.args) == 1 else f"{len(call.args)} values"
    diags.error("E204", f"{call.name}: expected a column name, got {got}", where)
    return None


def class_count(loss: str, output_shape: tuple) -> int | None:
    """The classes that class_weight weights: crossentropy's logits, bce's 0 and 1 (one output
    only); None when the model's output has no such classes."""
    if loss == "crossentropy" and len(output_shape) == 1:
        return output_shape[0]
    if loss == "bce" and tuple(output_shape) == (1,):
        return 2
    return None


def check_classes(train: dict, output_shape: tuple, calls: list[Call], diags: Diagnostics):
    """A class_weight list must have one weight per class of the model's output (E214)."""
    weights = train["class_weight"]
    if weights is None:
        return
    span = next(c.span for c in calls if c.name == "class_weight")
    loss = train["loss"]["name"]
    classes = class_count(loss, output_shape)
    if classes is None:
        diags.error(
            "E214",
            f"class_weight needs one class per example: loss {loss} on outputs of shape "
            f"{example_shape(output_shape)} has none",
            span,
            "bce: end with `dense 1`; crossentropy: end with `dense K` for K classes",
        )
    elif isinstance(weights, list) and len(weights) != classes:
        what = "the model's outputs" if loss == "crossentropy" else "bce's classes 0 and 1"
        diags.error(
            "E214",
            f"class_weight lists {len(weights)} weights, but {what} make {classes} classes",
            span,
            f"give {classes} weights, one per class, or `class_weight balanced`",
        )
