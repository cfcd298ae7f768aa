"""fit's settings: the IR's train section with the overrides of `fit(...)` applied, checked
(the spec's own settings were checked when it compiled; an override is checked here)."""

from __future__ import annotations

import numpy as np

from ..compiler.settings import EARLY_STOP, SEED_MAX
from ..diagnostics import UserError
from . import metrics as metric_fns

EARLY_STOP_DEFAULTS = {a.name: a.default for a in EARLY_STOP}


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
    return out
