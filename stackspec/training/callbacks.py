"""Callbacks: code that runs at fixed points of `fit`, with Keras's hooks and names.

A callback subclasses `Callback` and overrides any of the hooks; `fit(callbacks=[...])` calls them
in list order. As in Keras, `epoch` is 0-based in the hooks (history.csv and the progress lines
count from 1), `logs` is the epoch's values (loss, val_loss, metrics, lr) at `on_epoch_end`, and a
callback stops training after the current epoch by setting `self.model.stop_training = True`.
The CLI's run folder (live history.csv, checkpoints) is written by callbacks of this kind.
"""

from __future__ import annotations


class Callback:
    """Base class: every hook does nothing. `self.model` is the model being trained."""

    model = None

    def set_model(self, model) -> None:
        self.model = model

    def on_train_begin(self, logs: dict | None = None) -> None:
        pass

    def on_train_end(self, logs: dict | None = None) -> None:
        pass

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        pass

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        pass

    def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
        pass


HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_batch_end")


class CallbackList:
    """The callbacks of one fit, called in order; a non-Callback with the hooks is accepted
    (duck typing, as Keras's own list tolerates), anything else is a TypeError up front."""

    def __init__(self, callbacks, model):
        self.callbacks = list(callbacks or ())
        for cb in self.callbacks:
            missing = [h for h in HOOKS if not callable(getattr(cb, h, None))]
            if missing:
                raise TypeError(
                    f"callback {cb!r} lacks {', '.join(missing)}; subclass "
                    "stackspec.Callback and override the hooks you need"
                )
            if callable(getattr(cb, "set_model", None)):
                cb.set_model(model)
            else:
                cb.model = model

    def __bool__(self) -> bool:
        return bool(self.callbacks)

    def call(self, hook: str, *args) -> None:
        for cb in self.callbacks:
            getattr(cb, hook)(*args)
