"""fit's settings: the IR's train section with the overrides of `fit(...)` applied, checked
(the spec's own settings were checked when it compiled; an override is checked here)."""

from __future__ import annotations

import numpy as np

from ..compiler.settings import CLIP, EARLY_STOP, SCHEDULES, SEED_MAX
from ..diagnostics import UserError
from ..layers.args import in_range, range_text
from . import metrics as metric_fns

EARLY_STOP_DEFAULTS = {a.name: a.default for a in EARLY_STOP}
# Training precisions (docs/scaling.md): float32, bfloat16 or float16 autocast (torch backend).
PRECISIONS = ("32", "bf16", "16")


class SettingError(UserError, ValueError):
    """A training setting that cannot work: a ValueError for the API, exit 1 in the CLI."""


def check_seed(seed) -> None:
    """A seed is an int in [0, 2^63-1], as the spec's `seed` setting; a bool is not a seed."""
    if (
        not isinstance(seed, (int, np.integer))
        or isinstance(seed, bool)
        or not 0 <= seed <= SEED_MAX
    ):
        raise SettingError(f"seed must be an integer from 0 to 2^63-1, got {seed!r}")


def resolve_settings(train: dict, **overrides) -> dict:
    """The IR's train settings with the non-None overrides of fit() applied, checked."""
    out = {**train, "early_stop": train.get("early_stop")}
    for key, value in overrides.items():
        if value is not None:
            out[key] = value
    for key in ("epochs", "batch"):
        if (
            not isinstance(out[key], (int, np.integer))
            or isinstance(out[key], bool)
            or out[key] < 1
        ):
            raise SettingError(f"{key} must be a positive integer, got {out[key]!r}")
    check_seed(out["seed"])
    try:
        out["metrics"], out["top_k"] = metric_fns.resolve(
            out["metrics"], out["loss"]["name"], out.get("top_k")
        )
    except ValueError as e:
        raise SettingError(str(e)) from None
    es = out["early_stop"]
    if es is True:
        es = dict(EARLY_STOP_DEFAULTS)
    elif es is False:
        es = None
    elif es is not None:
        bad = set(es) - set(EARLY_STOP_DEFAULTS)
        if bad:
            raise SettingError(f"unknown early_stop setting {sorted(bad)[0]!r}")
        es = {**EARLY_STOP_DEFAULTS, **es}
    out["early_stop"] = es
    out["schedule"] = _schedule(out.get("schedule"))
    out["clip"] = _clip(out.get("clip"))
    out["precision"] = check_precision(out.get("precision", "32"))
    if not isinstance(out.get("compile", False), bool):
        raise SettingError(f"compile must be True or False, got {out['compile']!r}")
    out["compile"] = out.get("compile", False)
    return out


def check_precision(value) -> str:
    """fit(precision=...): "32", "bf16" or "16" (32 and 16 may be ints), as a string."""
    text = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else None
    if text not in PRECISIONS:
        raise SettingError(f"precision must be one of {', '.join(PRECISIONS)}, got {value!r}")
    return text


def _schedule(value) -> dict | None:
    """fit(schedule={"name": "cosine", "warmup": 5, ...}) checked as the spec's `schedule` line
    is; False turns the spec's off."""
    if value is None or value is False:
        return None
    if not isinstance(value, dict) or value.get("name") not in SCHEDULES:
        raise SettingError(
            f"schedule must be a dict with a name among {', '.join(SCHEDULES)}, got {value!r}"
        )
    name = value["name"]
    params = {k: v for k, v in value.items() if k != "name"}
    return {"name": name, **_table(f"schedule {name}", SCHEDULES[name], params)}


def _clip(value) -> dict | None:
    """fit(clip={"norm": 1.0}) or {"value": 0.5}, as the spec's `clip` line; False: none."""
    if value is None or value is False:
        return None
    if not isinstance(value, dict) or len(value) != 1:
        raise SettingError(f'clip must be {{"norm": X}} or {{"value": X}}, got {value!r}')
    bound = _table("clip", CLIP, value)
    return {k: v for k, v in bound.items() if v is not None}


def _table(owner: str, table, given: dict) -> dict:
    """`given` keyword values checked against a settings table: names, kinds, ranges; defaults
    filled in."""
    args = {a.name: a for a in table}
    unknown = [k for k in given if k not in args]
    if unknown:
        raise SettingError(f"{owner}: unknown setting {unknown[0]!r}; valid: {', '.join(args)}")
    out = {}
    for name, a in args.items():
        if name not in given:
            if a.required:
                raise SettingError(f"{owner}: missing {name!r}")
            out[name] = a.default
            continue
        v = given[name]
        kinds = (int, np.integer) if a.type == "int" else (int, float, np.integer, np.floating)
        if isinstance(v, bool) or not isinstance(v, kinds):
            what = "an integer" if a.type == "int" else "a number"
            raise SettingError(f"{owner}: {name} must be {what}, got {v!r}")
        if not np.isfinite(v) or not in_range(a, v):
            raise SettingError(f"{owner}: {name}={v!r} is outside {range_text(a)}")
        out[name] = int(v) if a.type == "int" else float(v)
    return out
