"""The run folder of `stackspec train`: chosen and checked before any work, made when the run
starts, and written while it runs, so a run is never lost and says what made it.

- The default folder is the next free name (`runs/m`, `runs/m-2`, ...), claimed with mkdir so
  two runs started together never share one.
- A folder that holds an earlier run (it has a run.json) is refused unless `force`; with
  `force` that run's files are removed when the new run starts (data read, model compiled),
  never by a run that fails before.
- spec.stack and run.json (status "running") are written when the run starts, history.csv is
  appended after every epoch (live.py), and weights.safetensors, curves.png, the final
  history.csv and run.json when it ends. Each file is written atomically (files.write_bytes), so
  every file is complete or absent, and run.json says whether the run finished.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import platform
import shutil
import stat
from datetime import datetime, timezone
from pathlib import Path

from ..diagnostics import UserError, printable
from ..files import cannot_write, reason
from ..interrupts import deferred
from .callbacks import Callback

FORMAT, VERSION = "stackspec-run", 1
RECORD = "run.json"
RUN_FILES = ("weights.safetensors", "history.csv", "curves.png", "spec.stack", RECORD)
RUN_DIRS = ("checkpoints", "tensorboard")
# run.json's status for each History.stop_reason
STATUS = {
    "completed": "finished",
    "early_stop": "early_stop",
    "stopped": "finished",
    "nan": "failed",
    "interrupted": "interrupted",
}
UNFINISHED = ("running", "interrupted")


def suffixes():
    """ "", "-2", "-3", ...: what a run folder's name takes until it is free."""
    yield ""
    yield from (f"-{n}" for n in itertools.count(2))


def next_free(base: str) -> str:
    """`base`, or `base-2`, `base-3`, ...: the first name that does not exist."""
    return next(base + s for s in suffixes() if not os.path.lexists(base + s))


def earlier_run(folder: str | Path) -> dict | None:
    """The run.json of the run that `folder` holds (an empty dict for one that cannot be read),
    or None when it holds no run."""
    path = Path(folder) / RECORD
    if not os.path.lexists(path):
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def refuse_earlier(folder: str | Path, shown: str, force: bool) -> bool:
    """An --out that holds an earlier run is refused unless `force` (a UserError, exit 1);
    True when there is one to replace."""
    record = earlier_run(folder)
    if record is None or force:
        return record is not None
    status = record.get("status")
    if status in UNFINISHED:
        started = record.get("started")
        when = f"{status}, started {started}" if started else status
        raise UserError(
            f"{shown} holds an unfinished run ({when}); use --resume {shown} to continue it, "
            "--force to replace it or --out elsewhere"
        )
    what = {"finished": "finished", "early_stop": "stopped early", "failed": "failed"}
    when = what.get(status, "ended") if status else "unreadable run.json"
    if status and record.get("ended"):
        when += f" {record['ended']}"
    raise UserError(
        f"{shown} holds an earlier run ({when}); use --force to replace it or --out elsewhere"
    )


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def sha256_of(path: str | None) -> str | None:
    """The sha256 of a regular file; None for stdin, a pipe or a device (read once, gone)."""
    if not path or path == "-":
        return None
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


def versions() -> dict:
    import numpy

    from ..version import __version__

    torch = None
    with contextlib.suppress(ImportError):
        import sys

        if "torch" in sys.modules:  # never import torch just to name its version
            torch = sys.modules["torch"].__version__
        else:
            from importlib.metadata import PackageNotFoundError, version

            with contextlib.suppress(PackageNotFoundError):
                torch = version("torch")
    return {
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "torch": torch,
        "stackspec": __version__,
    }


def new_record(spec, model, args: dict, argv, X, validation) -> dict:
    """run.json at the start of a run: what made it. `args` are train's options, resolved (the
    seed, epochs and batch in effect), enough to make the run again."""
    data = [_data_file("train", args["data"], len(X))]
    if validation is not None:
        data.append(_data_file("valid", args["valid"] or args["data"], len(validation[0])))
    train = spec.ir.train
    return {
        "format": FORMAT,
        "version": VERSION,
        "status": "created",
        "command": list(argv),
        "cwd": os.getcwd(),
        "spec": {"path": args["spec"], "sha256": _spec_sha256(args["spec"], spec.source)},
        "ir_hash": spec.ir.model_hash(),
        "data": data,
        "target": args["target"],
        "drop": args["drop"],
        "delimiter": args["delimiter"],
        "valid_split": args["valid_split"],
        "seed": args["seed"],
        "epochs": args["epochs"],
        "batch": args["batch"],
        "overrides": args["sets"],
        "weight_column": train.get("weight_column"),
        "init": None
        if args["init"] is None
        else {"path": args["init"], "sha256": sha256_of(args["init"])},
        "backend": model.backend,
        "device": str(getattr(model, "device", "cpu")),
        "versions": versions(),
        "started": None,
        "ended": None,
        "epochs_done": 0,
        "monitor": None,
        "best_epoch": None,
        "best": None,
        "final": None,
        "stop_reason": None,
        "message": None,
        "weights": None,
        "args": dict(args),
    }


def _data_file(role: str, path: str, rows: int) -> dict:
    return {"role": role, "path": path, "sha256": sha256_of(path), "rows": rows}


def _spec_sha256(path: str, source: str) -> str:
    """The spec file's sha256; for stdin, that of the text read (UTF-8)."""
    return sha256_of(path) or hashlib.sha256(source.encode("utf-8")).hexdigest()


class RunFolder:
    """One run's folder. `claim`: (real, shown) of the default name when the folder is its next
    free name: `start` makes the first free one then (another run may have taken this one).
    `replace`: the folder holds an earlier run, which `start` removes (--force)."""

    def __init__(
        self, path: Path, shown: str, record: dict, claim=None, replace=False, resuming=False
    ):
        self.path, self.shown, self.record, self.claim = path, shown, record, claim
        self.replace = replace  # it holds an earlier run that --force allows to replace
        self.resuming = resuming  # `train --resume`: the run's own files stay
        self.started = False

    def start(self, source: str, sets=()) -> None:
        """Make the folder (or empty it of an earlier run, which --force allowed), then write
        spec.stack and run.json with status "running". A signal is held meanwhile (a few
        milliseconds), so a run folder always has its run.json."""
        if sets:  # the weights fit the spec only with the same overrides; say so in the copy
            source = f"# trained with: {' '.join('--set ' + v for v in sets)}\n" + source
        with deferred():
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                if self.claim:
                    self._claim()
                else:
                    self.path.mkdir(exist_ok=True)
                    if not self.resuming:
                        self._remove_earlier()
            except OSError as e:
                raise cannot_write(self.shown, reason(e)) from None
            self.write("spec.stack", source)
            if self.resuming:  # the first start stays `started`; each resume is listed
                self.record["resumed"] = [*self.record.get("resumed", []), utc_now()]
                self.record.update(status="running", ended=None)
            else:
                self.record.update(status="running", started=utc_now())
            self.save_record()
            self.started = True

    def _remove_earlier(self) -> None:
        """Files of a run's names go, so that the folder never mixes two runs; an earlier run's
        folders too (checkpoints/, tensorboard/) when there is one (--force). Nothing else."""
        if self.replace:
            for name in RUN_DIRS:
                shutil.rmtree(self.path / name, ignore_errors=True)
        for name in RUN_FILES:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path / name)

    def _claim(self) -> None:
        """mkdir is the claim: of two runs that chose the same free name, one gets the next."""
        real, shown = self.claim
        for suffix in suffixes():
            self.path, self.shown = Path(real + suffix), shown + suffix
            try:
                os.mkdir(self.path)
                return
            except FileExistsError:
                continue

    def write(self, name: str, data: str | bytes) -> None:
        """One file of the run, atomically; an I/O error names `RUN/NAME`."""
        from ..files import write_bytes

        try:
            write_bytes(self.path / name, data.encode("utf-8") if isinstance(data, str) else data)
        except OSError as e:
            raise cannot_write(os.path.join(self.shown, name), reason(e)) from None

    def save_record(self, **changes) -> None:
        self.record.update(changes)
        self.write(RECORD, json.dumps(self.record, indent=2, allow_nan=False) + "\n")

    def finish(self, spec, model, history) -> None:
        """The end of a run, however it ended: weights, history, curves, then run.json. A signal
        is held while they are written (well under a second), so they all are."""
        from .curves import plot_curves
        from .weights import save_weights

        title = f"{os.path.basename(spec.file)}: learning curves ({model.backend} backend)"
        loss_name = f"loss ({spec.ir.train['loss']['name']})"
        with deferred():
            try:
                save_weights(
                    self.path / "weights.safetensors", spec.ir, model.get_weights(), model.encoding
                )
                plot_curves(history, self.path / "curves.png", title, loss_name)
            except OSError as e:
                name = os.path.basename(e.filename) if isinstance(e.filename, str) else ""
                raise cannot_write(os.path.join(self.shown, name), reason(e)) from None
            self.write("history.csv", history.to_csv())
            self.save_record(**outcome(history))

    def failed(self, message: str, resumable: bool = False) -> None:
        """Best effort after an error or a second Ctrl-C: run.json says the run did not end,
        "interrupted" (`train --resume` continues it) after Ctrl-C or when `resumable`."""
        if not self.started:
            return
        with deferred(), contextlib.suppress(UserError, OSError, ValueError):
            status = "interrupted" if message == "interrupted" or resumable else "failed"
            self.save_record(status=status, ended=utc_now(), message=printable(message))


class StartRun(Callback):
    """Starts the run folder when training starts, after every check that fit makes first (its
    settings, the optimizer): a run that cannot train leaves an earlier run as it was.
    `announce(shown)` says which folder it is."""

    def __init__(self, folder: RunFolder, source: str, sets=(), announce=None):
        self.folder, self.source, self.sets, self.announce = folder, source, sets, announce

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.folder.start(self.source, self.sets)
        if self.announce:
            self.announce(self.folder.shown)


def outcome(history) -> dict:
    """run.json's fields from how training ended."""
    last = {k: v[-1] for k, v in history.items() if v}
    return {
        "status": STATUS.get(history.stop_reason, history.stop_reason),
        "ended": utc_now(),
        "epochs_done": len(history.epoch),
        "best_epoch": history.best_epoch,
        "monitor": history.monitor,
        "best": history.best,
        "final": _finite(last),
        "stop_reason": history.stop_reason,
        "message": history.message,
        "weights": history.weights,
    }


def _finite(logs: dict) -> dict:
    """JSON has no nan or infinity: such a value is recorded as null."""
    import math

    return {k: (float(v) if math.isfinite(v) else None) for k, v in logs.items()}
