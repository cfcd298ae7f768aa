"""TensorBoard event files for a run (`stackspec train --tensorboard`), through tensorboardX.

tensorboardX writes TensorBoard's event format with NumPy and protobuf alone, so the NumPy
backend does not need torch for it; it is an optional extra (`pip install
'stackspec[tensorboard]'`), imported only here and only when asked for.
"""

from __future__ import annotations

import os

from ..diagnostics import UserError
from .callbacks import Callback

MISSING = "--tensorboard needs the tensorboardX package: pip install 'stackspec[tensorboard]'"


def require() -> None:
    """Before training: a clear error when tensorboardX is not installed."""
    import importlib.util

    if importlib.util.find_spec("tensorboardX") is None:
        raise UserError(MISSING)


class TensorBoard(Callback):
    """One scalar per history column (loss, val_loss, NAME, val_NAME, lr) per epoch, the step
    being the epoch number as history.csv counts it (from 1), flushed after every epoch.
    `logdir`: a folder, or a run folder (run_folder.RunFolder, known once training starts),
    whose `tensorboard/` subfolder is then used."""

    def __init__(self, logdir):
        self.logdir = logdir
        self.writer = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        try:
            from tensorboardX import SummaryWriter
        except ImportError:
            raise UserError(MISSING) from None
        run = getattr(self.logdir, "path", None)
        logdir = os.path.join(run, "tensorboard") if run is not None else os.fspath(self.logdir)
        self.writer = SummaryWriter(logdir=logdir)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        for name, value in (logs or {}).items():
            self.writer.add_scalar(name, float(value), epoch + 1)
        self.writer.flush()

    def on_train_end(self, logs: dict | None = None) -> None:
        self.close()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
