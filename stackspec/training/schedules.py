"""Learning-rate schedules (LANGUAGE.md §12): the learning rate of every training step.

Plain arithmetic, no tensors: both backends take the value from here through `_set_lr`, so they
train with the same learning rate at every step. With `lr` the optimizer's lr, S the batches per
epoch, E the epochs, t = (epoch - 1) * S + batch the global step (1-based) and W = warmup * S:

- warm-up multiplies whatever the schedule gives by min(1, t / W): linear from lr/W at the first
  step to the full value at step W (never 0: no step is wasted);
- constant: lr (only useful with warm-up);
- step: lr * factor ** ((epoch - 1) // every), per epoch, counting epochs from the first
  (warm-up included), as torch's StepLR stepped once per epoch;
- cosine: per step, lr during warm-up, then min_lr + (lr - min_lr) * (1 + cos(pi * (t - W) /
  (T - W))) / 2 with T = E * S: from just below lr after warm-up down to exactly min_lr at the
  last step (HF's cosine with warm-up, its first post-warm-up value shifted by one step);
- plateau: per epoch, on the monitored loss (val_loss; loss without validation data). An epoch
  improves when its loss is below the best so far (torch's ReduceLROnPlateau, mode min,
  threshold 0); after `patience` epochs without improvement (counted as early_stop and Keras
  count them) lr becomes max(lr * factor, min_lr) and the count restarts.

Only plateau has state that the step number does not determine; `state()` / `load_state()`
carry it as a JSON-able dict, so a resumed run gets the same lr at every later step.
"""

from __future__ import annotations

import math


def schedule_lr(settings: dict | None, lr: float, t: int, steps: int, epochs: int) -> float:
    """The lr of global step t (1-based) for a schedule without state (constant, step, cosine);
    for plateau, `lr` is its current value and this adds the warm-up. `steps`: batches per
    epoch; `epochs`: epochs of the whole run (cosine's horizon)."""
    if settings is None:
        return lr
    name = settings["name"]
    warmup = settings["warmup"] * steps
    value = lr
    if name == "step":
        epoch = (t - 1) // steps + 1
        value = lr * settings["factor"] ** ((epoch - 1) // settings["every"])
    elif name == "cosine" and t > warmup:
        total = epochs * steps
        low = settings["min_lr"]
        value = low + (lr - low) * (1 + math.cos(math.pi * (t - warmup) / (total - warmup))) / 2
    if t < warmup:
        value *= t / warmup
    return value


class Schedule:
    """One run's learning rate: `lr(epoch, batch)` before each step, `end_epoch(loss)` after
    each recorded epoch (plateau's only input)."""

    def __init__(self, settings: dict | None, lr: float, steps: int, epochs: int):
        self.settings, self.base, self.steps, self.epochs = settings, lr, steps, epochs
        self.current = lr  # plateau's reduced lr; the base for every other schedule
        self.best = math.inf
        self.wait = 0

    @classmethod
    def for_run(cls, train: dict, steps: int) -> Schedule:
        """The schedule of resolved train settings, with `steps` batches per epoch."""
        return cls(train.get("schedule"), train["optimizer"]["lr"], steps, train["epochs"])

    @property
    def name(self) -> str | None:
        return None if self.settings is None else self.settings["name"]

    def lr(self, epoch: int, batch: int) -> float:
        """The lr of batch `batch` (1-based) of epoch `epoch` (1-based)."""
        if self.settings is None:
            return self.base
        t = (epoch - 1) * self.steps + batch
        return schedule_lr(self.settings, self.current, t, self.steps, self.epochs)

    def end_epoch(self, loss: float) -> bool:
        """Record an epoch's monitored loss; True when plateau reduced the lr just now."""
        if self.name != "plateau":
            return False
        if loss < self.best:
            self.best, self.wait = loss, 0
            return False
        self.wait += 1
        if self.wait < self.settings["patience"]:
            return False
        self.wait = 0
        reduced = max(self.current * self.settings["factor"], self.settings["min_lr"])
        changed = reduced < self.current
        self.current = reduced
        return changed

    def reduced(self, monitor: str) -> str:
        """What plateau just did, for the progress log."""
        epochs = max(self.settings["patience"], 1)  # patience 0 reduces after each bad epoch
        return f"{monitor} has not improved for {epochs} epochs; lr now {self.current:.3g}"

    def state(self) -> dict:
        """What a checkpoint keeps: JSON-able (an infinite best is written as None)."""
        best = None if math.isinf(self.best) else self.best
        return {"lr": self.current, "best": best, "wait": self.wait}

    def load_state(self, state: dict) -> None:
        self.current = float(state["lr"])
        self.best = math.inf if state["best"] is None else float(state["best"])
        self.wait = int(state["wait"])


def schedule_warnings(train: dict, validation: bool) -> list[str]:
    """Lines for the progress log about a schedule that cannot do what it says."""
    settings, epochs = train.get("schedule"), train["epochs"]
    out = []
    if settings and settings["name"] == "plateau" and not validation:
        out.append("warning: schedule plateau without validation data watches the training loss")
    if settings and settings["warmup"] > epochs:
        out.append(
            f"warning: a warm-up of {settings['warmup']} epochs is longer than the {epochs} "
            "epochs of training: the full lr is never reached"
        )
    return out
