"""The training loop, shared by every backend: a backend supplies only `_train_step` and
`_predict_batch`; batch order, history, validation, early stopping, NaN handling, interruption and
progress live here once. docs/training.md explains each rule; the short version:

- Batch order: `np.random.default_rng(seed)` draws one permutation per epoch (with shuffle on),
  so it depends on the seed alone. The last, smaller batch is used, except that a final batch of
  exactly one example is skipped when the model has batchnorm (batch statistics of one example
  are degenerate; torch refuses them), with one warning line. With shuffle on, a different example
  is skipped each epoch.
- The epoch's loss is the batch-size-weighted mean of the batch losses (as Keras reports it);
  its metrics are computed once over all the training steps' outputs of the epoch (kept in one
  preallocated array), as the whole-set metrics they are (metrics.py). Validation runs in
  evaluation mode.
- Early stopping watches val_loss (loss, with a warning, when there is no validation data): an
  epoch improves when it beats the best by more than min_delta; training stops after `patience`
  epochs without improvement; with restore_best the best epoch's weights are restored when
  training ends, however it ends (finished, stopped early or interrupted).
- A non-finite loss, a training step's or the epoch's validation loss, stops at once; the weights
  go back to those at the start of that epoch (the last epoch whose losses were all finite, or
  the initial weights in epoch 1), and that epoch is not in the history.
- Adapt: before the first step, a `normalize` layer's mean and variance are set from the
  training data (adapt.py), at the start of every fit unless `adapt=False` (fine-tuning from a
  weight file keeps its statistics); they are never trained.
- Ctrl-C or SIGTERM stops after the current batch and keeps everything done so far (a second
  Ctrl-C raises KeyboardInterrupt at once).
- Learning rate: before every step the backend gets the step's lr from the schedule
  (schedules.py; the optimizer's lr without one), only when it changes; `lr` is the last
  column of the history, the lr of the epoch's last step.
- Callbacks (callbacks.py) are called at Keras's points; one that sets `model.stop_training`
  ends training after the current epoch (stop_reason "stopped").
- Epochs run from `initial_epoch + 1` to `epochs` (Keras's meaning). `resume`, a state that
  loop_state.py exports at an epoch boundary (a checkpoint), continues a run exactly: weights,
  optimizer, both RNGs, early stopping, schedule and history come back, and training goes on
  after the state's epoch. While fit runs, `model._fit_loop` is the loop (for checkpoints).
"""

from __future__ import annotations

import math
import time

import numpy as np

from ..layers import LAYERS
from . import metrics as metric_fns
from .adapt import adapt as adapt_statistics
from .callbacks import CallbackList
from .evaluation import evaluate_arrays
from .fit_settings import SettingError, resolve_settings
from .history import History
from .loop_state import FINAL, restore_state
from .progress import Progress, stop_requests
from .schedules import Schedule, schedule_warnings
from .weighting import example_weights


def has_batchnorm(ir) -> bool:
    return any(node.op in LAYERS and LAYERS[node.op].batch_statistics for node in ir.walk())


def _what(value: float) -> str:
    return "nan" if math.isnan(value) else "infinite"


def fit(
    model,
    X,
    y,
    validation=None,
    verbose="auto",
    callbacks=None,
    sample_weight=None,
    adapt=True,
    initial_epoch: int = 0,
    resume: dict | None = None,
    **overrides,
) -> History:
    """Train `model` on checked arrays (arrays.as_arrays); `validation` is (Xv, yv) or None;
    `callbacks` a list of callbacks.Callback; `sample_weight` (N,) weights of the examples,
    multiplied by train["class_weight"]'s (weighting.py); `adapt=False` keeps a `normalize`
    layer's statistics as they are (fine-tuning from a weight file); `resume` a loop state
    (loop_state.py)."""
    train = resolve_settings(model.ir.train, **overrides)
    model._check_training(train["precision"], train["compile"])
    if (
        not isinstance(initial_epoch, (int, np.integer))
        or isinstance(initial_epoch, bool)
        or initial_epoch < 0
    ):
        raise SettingError(f"initial_epoch must be an integer >= 0, got {initial_epoch!r}")
    callbacks = CallbackList(callbacks, model)
    progress = Progress(verbose, train["epochs"])
    loop = _Loop(model, train, progress, callbacks, adapt)
    model._fit_loop = loop
    try:
        w = example_weights(model.ir, train.get("class_weight"), y, sample_weight, progress.log)
        return loop.run(X, y, validation, w, int(initial_epoch), resume)
    finally:
        model._fit_loop = None
        progress.close()


class _Loop:
    def __init__(self, model, train, progress: Progress, callbacks: CallbackList, adapt=True):
        self.model, self.train, self.progress = model, train, progress
        self.callbacks, self.adapt = callbacks, adapt
        self.loss_name = train["loss"]["name"]
        self.metrics = train["metrics"]
        self.outputs = None  # the epoch's training outputs, for its metrics
        self.noted: set[tuple[str, str]] = set()  # undefined metrics said so

    def run(self, X, y, validation, w=None, initial_epoch: int = 0, resume=None) -> History:
        model, train, progress = self.model, self.train, self.progress
        self.w = w  # per-example weights of the training loss, or None
        n, bs = len(X), train["batch"]
        used = n
        batchnorm = has_batchnorm(model.ir)
        if batchnorm and min(n, bs) == 1:
            raise SettingError(
                f"{'batch 1' if bs == 1 else 'one training example'} cannot train a model with "
                "batchnorm: every batch would hold a single example"
            )
        if batchnorm and n % bs == 1:
            used = n - 1
            progress.log(
                f"warning: {n} examples in batches of {bs} leave a last batch of 1; the model has "
                "batchnorm, so that batch is skipped each epoch"
                + (" (a different example each epoch)" if train["shuffle"] else "")
            )
        self.history = history = self._history(validation)
        model.history = history  # as Keras's model.history: callbacks read the keys from it
        if self.adapt:
            adapt_statistics(model, X)  # the training split only, before the first snapshot
        model._begin_training(train)
        self.rng = rng = np.random.default_rng(train["seed"])  # the batch order
        self.best_weights, self.wait = None, 0
        self.last_logs: dict[str, float] = {}
        batches = math.ceil(used / bs)
        self.schedule = Schedule.for_run(train, batches)
        self.lr: float | None = None  # the lr the backend holds; set before the first step
        history.weights = "the initial weights"
        if resume is not None:
            initial_epoch = restore_state(self, history, resume)
        self.snapshot = model._snapshot()  # weights at the start of the current epoch
        first = train["epochs"] + 1 if history.stop_reason in FINAL else initial_epoch + 1
        model.stop_training = False
        self.callbacks.call("on_train_begin", {})
        # Overflow on the way to a non-finite loss is reported once, by the NaN rule below.
        with stop_requests() as flag, np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            stop = model._agreed_stop(flag)  # data-parallel: every rank stops after one batch
            for epoch in range(first, train["epochs"] + 1):
                started = time.perf_counter()
                order = rng.permutation(n) if train["shuffle"] else np.arange(n)
                progress.start(epoch, batches)
                self.callbacks.call("on_epoch_begin", epoch - 1, {})
                done = self._epoch(X, y, order[:used], bs, epoch, stop)
                if self._stops(history, epoch, done, batches, stop, validation, started):
                    break
        es = train["early_stop"]
        restore = es and es["restore_best"] and self.best_weights is not None
        if restore and history.stop_reason != "nan":
            model._restore(self.best_weights)
            history.restored_best = True
            history.weights = f"the weights of epoch {history.best_epoch}, the best"
        self._summary(history)
        self.callbacks.call("on_train_end", self.last_logs)
        return history

    def _history(self, validation) -> History:
        """An empty history with Keras's keys, watching val_loss (loss without validation)."""
        keys = ["loss"] + (["val_loss"] if validation is not None else [])
        for m in self.metrics:
            keys += [m] + ([f"val_{m}"] if validation is not None else [])
        history = History([*keys, "lr"])
        history.monitor = "val_loss" if validation is not None else "loss"
        if self.train["early_stop"] and validation is None:
            self.progress.log(
                "warning: early_stop without validation data watches the training loss"
            )
        for line in schedule_warnings(self.train, validation is not None):
            self.progress.log(line)
        return history

    def _stops(self, history, epoch, done, batches, stop, validation, started) -> bool:
        """Record a finished epoch; True when training ends after it (NaN, interrupted, early
        stop), with the history saying why."""
        if done is None:  # non-finite loss: back to the start of this epoch
            e, b, what = self.nan_at
            self._fail(history, f"training loss became {what} in epoch {e}, batch {b}")
            return True
        if stop.requested and done[2] < batches:  # keep the weights, not the numbers
            self.progress.close()
            history.stop_reason = "interrupted"
            history.weights = f"the weights after batch {done[2]} of epoch {epoch}"
            history.message = (
                f"interrupted ({stop.requested}) in epoch {epoch} after batch {done[2]} "
                f"of {batches}"
            )
            return True
        logs = self._logs(done, validation)
        bad = next((k for k in ("loss", "val_loss") if not math.isfinite(logs.get(k, 0.0))), None)
        if bad:  # the same rule for the epoch's mean and the validation loss
            name = "validation loss" if bad == "val_loss" else "training loss"
            self._fail(history, f"{name} became {_what(logs[bad])} in epoch {epoch}")
            return True
        seconds = time.perf_counter() - started
        history.epoch.append(epoch)
        history.seconds.append(seconds)
        for k in history:
            history[k].append(logs[k])
        self.progress.end(epoch, logs, seconds)
        self.snapshot = self.model._snapshot()
        history.weights = f"the weights of epoch {epoch}"
        self.last_logs = logs
        # Early stopping's bookkeeping comes first, so that a checkpoint written by a callback
        # holds the state after this epoch.
        ended = self._early_stop(history, epoch, logs[history.monitor])
        if self.schedule.end_epoch(logs[history.monitor]):  # before a checkpoint callback
            self.progress.log(f"epoch {epoch}: {self.schedule.reduced(history.monitor)}")
        self.callbacks.call("on_epoch_end", epoch - 1, dict(logs))
        if ended:
            return True
        if getattr(self.model, "stop_training", False):
            history.stop_reason = "stopped"
            history.message = f"stopped by a callback after epoch {epoch}"
            return True
        if stop.requested:
            history.stop_reason = "interrupted"
            history.message = f"interrupted ({stop.requested}) after epoch {epoch}"
            return True
        return False

    def _early_stop(self, history: History, epoch: int, current: float) -> bool:
        """Track the best epoch; True once `patience` epochs have not improved on it."""
        es = self.train["early_stop"]
        if history.best is None or current < history.best - (es or {}).get("min_delta", 0):
            history.best, history.best_epoch, self.wait = current, epoch, 0
            self.best_weights = self.snapshot
            return False
        if not es:
            return False
        self.wait += 1
        if self.wait < es["patience"]:
            return False
        history.stop_reason = "early_stop"
        history.message = (
            f"early stop after epoch {epoch}: {history.monitor} has not improved "
            f"for {self.wait} epochs"
        )
        return True

    def _fail(self, history: History, what: str) -> None:
        """The NaN rule: back to the weights of the last epoch whose losses were all finite."""
        self.model._restore(self.snapshot)
        history.stop_reason = "nan"
        history.message = f"the {what}; stopped, keeping {history.weights}"

    def _epoch(self, X, y, order, bs, epoch, stop):
        """Train one epoch; (loss sum, (outputs, targets), batches done, examples) or None on
        NaN. The outputs are kept only when there are metrics to compute from them."""
        model, progress = self.model, self.progress
        loss_sum, count, b = 0.0, 0, 0
        keep = bool(self.metrics)
        if keep and self.outputs is None:  # one array for every epoch
            self.outputs = np.empty((len(order), *model.ir.output_shape), dtype=np.float32)
        for b, start in enumerate(range(0, len(order), bs), 1):
            idx = order[start : start + bs]
            xb, yb = X[idx], y[idx]
            lr = self.schedule.lr(epoch, b)
            if lr != self.lr:
                model._set_lr(lr)
                self.lr = lr
            # Unweighted, the step is called as before weights existed (any backend's works).
            step = (xb, yb) if self.w is None else (xb, yb, self.w[idx])
            loss, out = model._train_step(*step)
            if not math.isfinite(loss):
                self.nan_at = (epoch, b, _what(loss))
                progress.close()
                return None
            k = len(idx)
            if keep:
                self.outputs[count : count + k] = out
            loss_sum += loss * k
            count += k
            progress.step(loss_sum, count)
            if self.callbacks:
                logs = {"batch": b - 1, "size": k, "loss": loss}
                self.callbacks.call("on_batch_end", b - 1, logs)
            if stop.requested:
                break
        seen = (self.outputs[:count], y[order[:count]]) if keep else None
        return loss_sum, seen, b, count

    def _logs(self, done, validation) -> dict[str, float]:
        loss_sum, seen, _, count = done
        logs = {"loss": loss_sum / count}
        train, names = self.train, self.metrics
        val = None
        if validation is not None:
            val = evaluate_arrays(
                self.model, *validation, train["loss"], names, train["batch"], train["top_k"]
            )
            logs["val_loss"] = val["loss"]
            self._note_undefined(val, validation[1], "validation")
        if names:
            values = metric_fns.compute(names, *seen, self.loss_name, train["top_k"])
            self._note_undefined(values, seen[1], "training")
        for name in names:
            logs[name] = values[name]
            if val is not None:
                logs[f"val_{name}"] = val[name]
        logs["lr"] = self.lr
        return logs

    def _note_undefined(self, values: dict, y, split: str) -> None:
        """One line per metric and split the first time it is nan for a reason of the data."""
        for name, value in values.items():
            why = math.isnan(value) and metric_fns.undefined(name, y, self.loss_name)
            if why and (name, split) not in self.noted:
                self.noted.add((name, split))
                self.progress.log(f"note: {why} in the {split} data (nan in the history)")

    def _summary(self, history: History) -> None:
        log = self.progress.log
        if history.message:
            log(("stopped: " if history.stop_reason == "nan" else "") + history.message)
        if not history.epoch:
            return
        last = "  ".join(f"{k} {v[-1]:.4f}" for k, v in history.items() if k.endswith("loss"))
        total = sum(history.seconds)
        line = f"done: {len(history.epoch)} epochs in {total:.1f}s; final {last}"
        if history.best_epoch is not None:
            line += f"; best {history.monitor} {history.best:.4f} at epoch {history.best_epoch}"
        log(line + f"; the model holds {history.weights}")
