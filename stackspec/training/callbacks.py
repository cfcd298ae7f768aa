"""Callbacks: code that runs at fixed points of `fit`, with Keras's hooks and names.

A callback subclasses `Callback` and overrides any of the hooks; `fit(callbacks=[...])` calls them
in list order. As in Keras, `epoch` is 0-based in the hooks (history.csv and the progress lines
count from 1), `logs` is the epoch's values (loss, val_loss, metrics, lr) at `on_epoch_end`, and a
callback stops training after the current epoch by setting `self.model.stop_training = True`.
The CLI's run folder (live history.csv, checkpoints) is written by callbacks of this kind.
"""

from __future__ import annotations

import os


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


class LiveHistory(Callback):
    """history.csv while training runs: the header (and any epochs the history already holds)
    at the start, then one line per finished epoch, appended and fsynced, so the file is the
    run's history up to its last epoch, byte for byte what History.to_csv gives at the end.
    `folder` is a path, or an object with `path` and `shown` (run_folder.RunFolder, whose
    folder is known only when training starts); errors name `SHOWN/history.csv`."""

    def __init__(self, folder):
        self.folder = folder

    @property
    def path(self):
        return os.path.join(getattr(self.folder, "path", self.folder), "history.csv")

    @property
    def shown(self) -> str:
        return os.path.join(str(getattr(self.folder, "shown", self.folder)), "history.csv")

    def on_train_begin(self, logs: dict | None = None) -> None:
        from ..files import write_text

        self._guard(write_text, self.path, self.model.history.to_csv())

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        history = self.model.history
        self._guard(_append, self.path, history.csv_row(len(history.epoch) - 1))

    def _guard(self, write, *args) -> None:
        from ..files import cannot_write, reason

        try:
            write(*args)
        except OSError as e:
            raise cannot_write(self.shown, reason(e)) from None


def _append(path, text: str) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
