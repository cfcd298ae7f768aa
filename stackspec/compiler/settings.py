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

REGRESSION = ("mse", "mae", "huber")
CLASSIFIERS = ("bce", "crossentropy")
# Each metric and the losses it has a meaning for (training/metrics.py defines them); listing a
# metric with another loss is E214, as is a fit(metrics=[...]) override (a ValueError).
METRICS: dict[str, tuple[str, ...]] = {
    "mae": tuple(LOSSES),
    "mse": tuple(LOSSES),
    "accuracy": tuple(LOSSES),
    "rmse": REGRESSION,
    "r2": REGRESSION,
    "precision": CLASSIFIERS,
    "recall": CLASSIFIERS,
    "f1": CLASSIFIERS,
    "auc": ("bce",),
    "top_k_accuracy": ("crossentropy",),
}
# `metrics accuracy top_k_accuracy k=3`: k is top_k_accuracy's, the IR's `top_k` (None when the
# metric is not listed; fit then uses this default).
TOP_K = Arg("k", "int", 5, low=1)

# Learning-rate schedules (LANGUAGE.md §12; formulas in training/schedules.py). `warmup` comes
# first so the IR reads {"name", "warmup", ...}. Defaults are Keras's and torch's (factor 0.1,
# patience 10); `every` has none, as torch's StepLR has no default step_size.
_WARMUP = Arg("warmup", "int", 0, low=0)
_FACTOR = Arg("factor", "float", 0.1, low=0, low_open=True, high=1)
_MIN_LR = Arg("min_lr", "float", 0.0, low=0)
SCHEDULES: dict[str, tuple[Arg, ...]] = {
    "constant": (_WARMUP,),
    "step": (_WARMUP, Arg("every", "int", low=1), _FACTOR),
    "cosine": (_WARMUP, _MIN_LR),
    "plateau": (_WARMUP, Arg("patience", "int", 10, low=0), _FACTOR, _MIN_LR),
}

# Gradient clipping: exactly one of the two, as torch's clip_grad_norm_ / clip_grad_value_.
CLIP = (
    Arg("norm", "float", None, low=0, low_open=True),
    Arg("value", "float", None, low=0, low_open=True),
)

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
    "class_weight": (),  # `balanced` or a list of numbers, bound by hand below
    "weight_column": (),  # a column name, bound by hand below
    "schedule": (Arg("schedule", "choice", positional=True, choices=tuple(SCHEDULES)),),
    "clip": CLIP,
    "checkpoint": CHECKPOINT,
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
        "top_k": None,
        "early_stop": None,
        "seed": 0,
        "shuffle": True,
        "class_weight": None,
        "weight_column": None,
        "schedule": None,
        "clip": None,
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
    loss_ok = True
    for call in calls:
        if not known_setting("train", call, SETTINGS, seen, diags):
            continue
        if call.name == "loss":
            value = _choice_with_kwargs(call, LOSSES, diags, names)
        elif call.name == "optimizer":
            value = _choice_with_kwargs(call, OPTIMIZERS, diags, names)
        elif call.name == "metrics":
            value, out["top_k"] = _metrics(call, diags, names)
        elif call.name == "schedule":
            value = _choice_with_kwargs(call, SCHEDULES, diags, names)
        elif call.name == "clip":
            value = _clip(call, diags, names)
        elif call.name in ("early_stop", "checkpoint"):
            table = SETTINGS[call.name]
            value = bind(call.name, table, call.args, call.kwargs, call.span, diags, names)
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
        loss_ok &= call.name != "loss" or value is not None
    loss = out["loss"]["name"]
    if out["class_weight"] is not None and loss_ok and loss not in CLASS_LOSSES:
        diags.error(
            "E214",
            f"class_weight weights classes, but loss {loss} has none",
            seen["class_weight"],
            "class_weight needs loss crossentropy or bce; weight the rows of any loss with "
            "`weight_column`",
        )
    if "metrics" in seen and loss_ok:
        _metrics_fit_loss(next(c for c in calls if c.name == "metrics"), out["loss"], diags)
    _check_min_lr(out, seen, diags)
    return out


def _clip(call: Call, diags: Diagnostics, names) -> dict | None:
    """`clip norm=1.0` or `clip value=0.5`: {"norm": x} or {"value": x}, never both."""
    params = bind("clip", CLIP, call.args, call.kwargs, call.span, diags, names)
    if params is None:
        return None
    given = {k: v for k, v in params.items() if v is not None}
    if len(given) == 1:
        return given
    if given:
        diags.error(
            "E207",
            "clip: give norm or value, not both",
            call.span,
            "norm=X scales all gradients together; value=X clamps each one",
        )
    else:
        diags.error(
            "E206", "clip: missing argument 'norm' or 'value'", call.span, "e.g. clip norm=1.0"
        )
    return None


def _check_min_lr(out: dict, seen: dict[str, Span], diags: Diagnostics) -> None:
    """A min_lr above the optimizer's lr would make cosine climb (and plateau never reduce):
    a slip of a digit, reported at the schedule."""
    schedule, lr = out["schedule"], out["optimizer"].get("lr")
    if schedule and lr is not None and schedule.get("min_lr", 0) > lr:
        diags.error(
            "E205",
            f"schedule {schedule['name']}: min_lr {schedule['min_lr']:g} is above the "
            f"optimizer's lr {lr:g}",
            seen["schedule"],
            "min_lr is the lowest the learning rate may fall to",
        )


def _metrics(call: Call, diags: Diagnostics, names) -> tuple[list[str], int | None]:
    """(metric names, top_k); k= belongs to top_k_accuracy, wherever it is in the list."""
    metrics = []
    for v in call.args:
        if v.kind != "name" or v.text not in METRICS:
            diags.error(
                "E203",
                f"metrics: unknown metric '{v.text}'{did_you_mean(v.text, METRICS)}",
                v.span,
                "valid: " + ", ".join(METRICS),
            )
        elif v.text in metrics:
            diags.error("E207", f"metrics: '{v.text}' given twice", v.span)
        else:
            metrics.append(v.text)
    top_k = "top_k_accuracy" in metrics
    for kw in call.kwargs:
        if kw.name != TOP_K.name or not top_k:
            hint = "k= belongs to top_k_accuracy" if kw.name == TOP_K.name else "list metric names"
            diags.error("E202", f"metrics: unknown keyword '{kw.name}'", kw.span, hint)
    if not top_k:
        return metrics, None
    given = tuple(kw for kw in call.kwargs if kw.name == TOP_K.name)
    params = bind("metrics top_k_accuracy", (TOP_K,), (), given, call.span, diags, names)
    return metrics, None if params is None else params["k"]


def _metrics_fit_loss(call: Call, loss: dict, diags: Diagnostics) -> None:
    """E214 at each listed metric that has no meaning for the loss (accuracy fits every loss)."""
    for name in dict.fromkeys(v.text for v in call.args if v.text in METRICS):
        problem = loss_mismatch(name, loss["name"])
        if problem:
            span = next(v.span for v in call.args if v.text == name)
            diags.error("E214", f"metrics: {problem}", span, metric_hint(name))


def loss_mismatch(metric: str, loss: str) -> str | None:
    """`auc needs loss bce, not mse`, or None when the metric fits the loss."""
    fits = METRICS[metric]
    if loss in fits:
        return None
    needs = fits[0] if len(fits) == 1 else f"{', '.join(fits[:-1])} or {fits[-1]}"
    return f"{metric} needs loss {needs}, not {loss}"


def metric_hint(name: str) -> str:
    """What a metric is for, said when it is listed with a loss it does not fit."""
    return {
        "rmse": "rmse and r2 compare a regression model's outputs with its targets",
        "r2": "rmse and r2 compare a regression model's outputs with its targets",
        "auc": "auc ranks the probabilities of a binary classifier (loss bce)",
        "top_k_accuracy": "top_k_accuracy asks whether the label is among the k likeliest classes",
    }.get(name, f"{name} counts a classifier's decisions (loss bce or crossentropy)")


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
