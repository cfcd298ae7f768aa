"""A Keras compile config (loss, optimizer, metrics) -> the lines of a train section.

Optional: a model saved without compile() has none. A setting with no exact stackspec equivalent
is left out with a note (the model itself is still imported): a learning-rate schedule object,
categorical (one-hot) cross-entropy, amsgrad, a centered RMSprop. Arguments equal to our
defaults are left out; our optimizer defaults are Keras's, except AdamW's weight_decay.
"""

from __future__ import annotations

from .convert import number

LOSSES = {
    "mae": "mae",
    "mean_absolute_error": "mae",
    "MeanAbsoluteError": "mae",
    "mse": "mse",
    "mean_squared_error": "mse",
    "MeanSquaredError": "mse",
    "huber": "huber",
    "Huber": "huber",
    "binary_crossentropy": "bce",
    "BinaryCrossentropy": "bce",
    "sparse_categorical_crossentropy": "crossentropy",
    "SparseCategoricalCrossentropy": "crossentropy",
}
# Keras optimizer class, lower case (Adam, "adam") = ours -> its arguments, (ours, Keras's
# name, our default).
_ADAM = (
    ("lr", "learning_rate", 0.001),
    ("beta1", "beta_1", 0.9),
    ("beta2", "beta_2", 0.999),
    ("eps", "epsilon", 1e-7),
)
OPTIMIZERS = {
    "adam": _ADAM,
    "adamw": (*_ADAM, ("weight_decay", "weight_decay", 0.01)),
    "sgd": (("lr", "learning_rate", 0.01), ("momentum", "momentum", 0.0)),
    "rmsprop": (("lr", "learning_rate", 0.001), ("rho", "rho", 0.9), ("eps", "epsilon", 1e-7)),
}
METRICS = {"mae": "mae", "mean_absolute_error": "mae", "mse": "mse", "accuracy": "accuracy"}
METRICS |= {"mean_squared_error": "mse", "acc": "accuracy", "root_mean_squared_error": "rmse"}


def train_lines(config: dict | None, notes: list[str]) -> list[str]:
    if not isinstance(config, dict):
        return []
    lines = [x for x in (_loss(config.get("loss"), notes), _optimizer(config, notes)) if x]
    metrics = _metrics(config.get("metrics"), notes)
    if metrics:
        lines.append("metrics " + " ".join(metrics))
    return lines


def _name_and_config(value) -> tuple[str | None, dict]:
    if isinstance(value, str):
        return value, {}
    if isinstance(value, dict):
        return value.get("class_name"), value.get("config") or {}
    return None, {}


def _loss(value, notes: list[str]) -> str:
    if value is None:
        return ""
    name, cfg = _name_and_config(value)
    if name not in LOSSES:
        notes.append(f"loss {name!r} has no stackspec equivalent; the train section has none")
        return ""
    ours = LOSSES[name]
    if ours == "huber" and cfg.get("delta", 1.0) != 1.0:
        return f"loss huber delta={number(cfg['delta'])}"
    return f"loss {ours}"


def _optimizer(config: dict, notes: list[str]) -> str:
    name, cfg = _name_and_config(config.get("optimizer"))
    if name is None:
        return ""
    ours = str(name).lower()
    extras = (
        cfg.get("amsgrad") or cfg.get("centered") or (ours == "rmsprop" and cfg.get("momentum"))
    )
    if ours not in OPTIMIZERS or extras:
        notes.append(f"optimizer {name!r} has no stackspec equivalent; left out")
        return ""
    parts = [f"optimizer {ours}"]
    for mine, theirs, default in OPTIMIZERS[ours]:
        value = cfg.get(theirs, default)
        if isinstance(value, dict):  # a LearningRateSchedule
            notes.append(f"optimizer {theirs} is a schedule; left out (see `schedule`)")
            continue
        if mine == "lr" or value is not None and number(value) != number(default):
            parts.append(f"{mine}={number(value)}")
    if ours == "sgd" and cfg.get("nesterov"):
        parts.append("nesterov=true")
    return " ".join(parts)


def _metrics(value, notes: list[str]) -> list[str]:
    names = value if isinstance(value, list) else []
    out = []
    for m in names:
        name, _ = _name_and_config(m)
        if name in METRICS and METRICS[name] not in out:
            out.append(METRICS[name])
        elif name is not None:
            notes.append(f"metric {name!r} has no stackspec equivalent; left out")
    return out
