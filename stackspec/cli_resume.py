"""`stackspec train --resume RUN_DIR` and the run record it reads (LANGUAGE.md §12).

Every `train` writes RUN_DIR/run.json when training starts ("status": "running") and updates it
when it ends ("finished", "interrupted" or "failed"); "args" holds every resolved option, with
the spec and data paths made absolute, and "spec"/"data" the sha256 of each input file. A run
killed outright (SIGKILL, power loss) stays "running".

`--resume RUN_DIR` takes the options from run.json (giving any of them again is a usage error),
refuses a finished run and inputs whose sha256 changed, and continues from the newest
checkpoint in RUN_DIR/checkpoints (from epoch 1 when there is none), writing into RUN_DIR.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import click

from .diagnostics import UserError, printable
from .training.callbacks import Callback
from .training.checkpoints import latest

RUN_FILE = "run.json"
# train's parameters that run.json records (name in run.json -> train's parameter name).
ARGS = {
    "spec": "spec",
    "data": "data_path",
    "target": "target",
    "valid": "valid_path",
    "valid_split": "valid_split",
    "epochs": "epochs",
    "batch": "batch",
    "seed": "seed",
    "sets": "sets",
    "backend": "backend",
    "device": "device",
    "drop": "drop",
    "delimiter": "delimiter",
    "out": "out",
}
STATUS = {"completed": "finished", "early_stop": "finished", "stopped": "finished"}


def sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resumed_options(ctx: click.Context, run_dir: str) -> dict:
    """train's options as run.json records them, for `--resume RUN_DIR`; every input checked to
    be unchanged. Usage error (exit 2) if an option is given with --resume; UserError (exit 1)
    for a finished run, a missing record or a changed input."""
    given = [
        _flag(p)
        for p in ctx.command.params
        if p.name in ARGS.values()
        and ctx.get_parameter_source(p.name) is not click.core.ParameterSource.DEFAULT
    ]
    if given:
        raise click.UsageError(
            f"--resume takes the run's own options from {RUN_FILE}; do not give {', '.join(given)}"
        )
    record = read_record(run_dir)
    if record.get("status") == "finished":
        raise UserError(f"nothing to resume: {run_dir} holds a finished run")
    args = record["args"]
    for role, entry in _inputs(record):
        path, digest = entry.get("path"), entry.get("sha256")
        if path == "-" or digest is None:
            raise UserError(f"cannot resume {run_dir}: its {role} was read from stdin")
        try:
            now = sha256(path)
        except OSError as e:
            raise UserError(f"cannot resume {run_dir}: {role} {path}: {e.strerror}") from None
        if now != digest:
            raise UserError(
                f"cannot resume {run_dir}: {role} {path} has changed since the run started "
                "(its sha256 differs)"
            )
    options = {ARGS[k]: args.get(k) for k in ARGS}
    options["sets"], options["drop"] = tuple(args["sets"]), tuple(args["drop"])
    options["out"] = run_dir
    return options


def _flag(param: click.Parameter) -> str:
    return param.opts[0] if param.param_type_name == "option" else param.human_readable_name


def read_record(run_dir: str) -> dict:
    path = os.path.join(run_dir, RUN_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
    except FileNotFoundError:
        raise UserError(f"cannot resume {run_dir}: it holds no {RUN_FILE}") from None
    except (OSError, ValueError) as e:
        raise UserError(f"cannot read {path}: {e}") from None
    if not isinstance(record, dict) or not isinstance(record.get("args"), dict):
        raise UserError(f"{path} is not a stackspec run record")
    return record


def _inputs(record: dict):
    """(role, {"path", "sha256"}) of each input file that the run read."""
    yield "spec", record.get("spec", {})
    for entry in record.get("data", []):
        yield f"{entry['role']} file", entry


def start_run(out: Path, spec, options: dict, resuming: bool) -> tuple[list, str | None]:
    """fit's callbacks for a run in RUN_DIR `out`, and `resume_from` (None: from epoch 1). A
    resumed run continues from its newest checkpoint. Nothing is written before training starts
    (a setting that cannot train changes nothing): then run.json says "running", a fresh run
    drops an earlier run's checkpoints, a resumed one cuts history.csv back to its checkpoint."""
    from .training.checkpoints import Checkpoint

    folder = out / "checkpoints"
    found = latest(folder) if resuming else None
    if resuming:
        shown = printable(options["out"])
        if found is None:
            click.echo(f"note: {shown} has no checkpoint; training restarts from epoch 1", err=True)
        else:
            click.echo(f"resuming {shown} after epoch {_epoch(found)} ({found.name})", err=True)
    record = read_record(str(out)) if resuming else {}
    record.update(_record(spec, options), status="running")
    setting = spec.ir.train.get("checkpoint")
    start = _RunStart(out, record, resuming, 0 if found is None else _epoch(found))
    start.live = bool(setting) or resuming
    callbacks = [start]
    if setting:
        callbacks.append(Checkpoint(folder, **setting))
    return callbacks, None if found is None else str(found)


def _epoch(checkpoint: Path) -> int:
    return int(checkpoint.name.split("-")[1])


class _RunStart(Callback):
    """Writes run.json and prepares RUN_DIR when training starts, for a run that writes into
    RUN_DIR while it trains (checkpoints, or a resumed run); any other run's folder stays all or
    nothing: its run.json comes with the other outputs (finish_run)."""

    live = True

    def __init__(self, out: Path, record: dict, resuming: bool, epoch: int):
        self.out, self.record, self.resuming, self.epoch = out, record, resuming, epoch

    def on_train_begin(self, logs=None) -> None:
        from .files import write_text

        if not self.live:
            return
        missing = [p for p in (self.out, *self.out.parents) if not p.exists()]
        self.made = missing[-1] if missing else None  # the topmost folder this run makes
        self.out.mkdir(parents=True, exist_ok=True)
        if self.resuming:
            truncate_history(self.out / "history.csv", self.epoch)
        elif (self.out / "checkpoints").exists():
            shutil.rmtree(self.out / "checkpoints")  # an earlier run's, which this one replaces
        write_text(self.out / RUN_FILE, json.dumps(self.record, indent=2) + "\n")

    made: Path | None = None

    def failed(self) -> None:
        """Training raised (out of memory, a bug): a folder this run made and that holds no
        checkpoint is removed, as if the run had not started; otherwise run.json says "failed"."""
        from .files import write_text

        if not self.live or not (self.out / RUN_FILE).exists():
            return
        if self.made is not None and not latest(self.out / "checkpoints"):
            shutil.rmtree(self.made, ignore_errors=True)
            return
        write_text(self.out / RUN_FILE, json.dumps({**self.record, "status": "failed"}, indent=2))


def _record(spec, options: dict) -> dict:
    """run.json's args and inputs (a minimal record; the full one adds versions and times)."""
    args = {k: options[name] for k, name in ARGS.items()}
    for key in ("spec", "data", "valid"):
        if args[key] not in (None, "-"):
            args[key] = os.path.abspath(args[key])
    args["sets"], args["drop"] = list(args["sets"]), list(args["drop"])

    def entry(path):
        return {"path": path, "sha256": None if path == "-" else sha256(path)}

    data = [{"role": "data", **entry(args["data"])}]
    if args["valid"] is not None:
        data.append({"role": "valid", **entry(args["valid"])})
    return {
        "args": args,
        "spec": entry(args["spec"]),
        "data": data,
        "ir_hash": spec.ir.model_hash(),
    }


def finish_run(folder: Path, callbacks: list, history) -> None:
    """Write run.json into `folder` (the outputs' temp folder) with how the run ended."""
    from .files import write_text

    record = dict(callbacks[0].record)
    if history.stop_reason == "nan":
        record["status"] = "failed"
    else:
        record["status"] = STATUS.get(history.stop_reason, history.stop_reason)
    record["epochs_done"] = history.epoch[-1] if history.epoch else 0
    write_text(folder / RUN_FILE, json.dumps(record, indent=2) + "\n")


def truncate_history(path: Path, epoch: int) -> None:
    """Cut history.csv back to its rows up to `epoch` (a resumed run appends from there)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    except FileNotFoundError:
        return
    from .files import write_text

    keep = lines[:1] + [r for r in lines[1:] if int(r.split(",", 1)[0]) <= epoch]
    write_text(path, "".join(keep))
