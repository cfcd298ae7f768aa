"""A training run's history: per-epoch values as Keras keys them, and how the run ended."""

from __future__ import annotations


class History(dict):
    """Per-epoch values keyed as Keras keys them: loss, val_loss, then NAME, val_NAME per metric,
    then lr (the learning rate of the epoch's last step).

    A dict of lists; `history.history` is the same dict (Keras compatibility). Attributes say how
    training ended: stop_reason ("completed", "early_stop", "nan", "interrupted", "stopped" by a
    callback), message,
    monitor, best_epoch (1-based) and best, restored_best, seconds (per epoch).
    """

    def __init__(self, keys: list[str]):
        super().__init__({k: [] for k in keys})
        self.epoch: list[int] = []
        self.seconds: list[float] = []
        self.stop_reason = "completed"
        self.message = ""
        self.monitor: str | None = None
        self.best_epoch: int | None = None
        self.best: float | None = None
        self.restored_best = False
        self.weights = ""  # which weights the model holds now, in words

    @property
    def history(self) -> History:
        return self

    @property
    def failed(self) -> bool:
        return self.stop_reason == "nan"

    def to_csv(self) -> str:
        """history.csv: epoch, then the keys in order; full precision (repr) for exact reruns."""
        return self.csv_header() + "".join(self.csv_row(i) for i in range(len(self.epoch)))

    def csv_header(self) -> str:
        return ",".join(["epoch", *self]) + "\n"

    def csv_row(self, i: int) -> str:
        """Line `i` (0-based) of history.csv's body: what the live history appends per epoch."""
        return ",".join([str(self.epoch[i]), *(repr(float(self[k][i])) for k in self)]) + "\n"
