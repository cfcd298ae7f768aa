"""`stackspec train --resume RUN_DIR`: the options of an interrupted run, read back from its
run.json (LANGUAGE.md §12), and the checkpoint to continue from.

`--resume RUN_DIR` takes every option from run.json's "args" (giving one of them again is a
usage error), refuses a run that ended (finished, stopped early, failed) and inputs whose sha256
changed since the run started, and continues from the newest checkpoint in RUN_DIR/checkpoints
(from epoch 1 when there is none), writing into RUN_DIR. Relative paths in the record are taken
from the folder the run was started in (its "cwd").
"""

from __future__ import annotations

import os

import click

from .diagnostics import UserError, printable
from .training.run_folder import RECORD, earlier_run, sha256_of

# The train options that run.json's "args" records: they come from there on --resume.
RECORDED = (
    "spec",
    "data",
    "target",
    "drop",
    "delimiter",
    "valid",
    "valid_split",
    "weight_column",
    "epochs",
    "batch",
    "seed",
    "sets",
    "backend",
    "device",
    "init",
    "tensorboard",
)
# Recorded since they were added: a run.json from before holds none, and ran with these.
RECORDED_LATER = {"precision": "32", "compile": False}
ENDED = {"finished": "finished", "early_stop": "stopped early", "failed": "failed"}


def given_with_resume(ctx: click.Context) -> list[str]:
    """The recorded options that the command line gives as well (usage errors with --resume)."""
    return [
        p.opts[0] if p.param_type_name == "option" else p.human_readable_name
        for p in ctx.command.params
        if p.name in (*RECORDED, *RECORDED_LATER, "out", "force")
        and ctx.get_parameter_source(p.name) is not click.core.ParameterSource.DEFAULT
    ]


def resumed_options(run_dir: str) -> dict:
    """run_train's options as RUN_DIR/run.json records them, every input checked unchanged.
    A UserError (exit 1) for a folder without a readable record, a run that ended, or a
    changed or missing input."""
    record = earlier_run(run_dir)
    shown = printable(run_dir)
    if record is None:
        raise UserError(f"cannot resume {shown}: it holds no {RECORD}")
    args = record.get("args")
    if not isinstance(args, dict) or any(k not in args for k in RECORDED):
        raise UserError(f"cannot resume {shown}: its {RECORD} is not a stackspec run record")
    status = record.get("status")
    if status in ENDED:
        raise UserError(f"nothing to resume: {shown} holds a run that {ENDED[status]}")
    cwd = record.get("cwd") or os.getcwd()
    options = {k: args[k] for k in RECORDED}
    options.update({k: args.get(k, default) for k, default in RECORDED_LATER.items()})
    for key in ("spec", "data", "valid", "init"):
        if options[key] not in (None, "-"):
            options[key] = os.path.join(cwd, options[key])
    for role, entry in _inputs(record):
        _unchanged(shown, role, entry, cwd)
    options["sets"], options["drop"] = tuple(options["sets"]), tuple(options["drop"])
    return options


def _inputs(record: dict):
    """(role, {"path", "sha256"}) of each input file the run read."""
    yield "spec", record.get("spec") or {}
    for entry in record.get("data") or []:
        yield f"{entry.get('role', 'data')} file", entry
    if record.get("init"):
        yield "--init file", record["init"]


def _unchanged(shown: str, role: str, entry: dict, cwd: str) -> None:
    path, digest = entry.get("path"), entry.get("sha256")
    if path in (None, "-") or digest is None:
        raise UserError(f"cannot resume {shown}: its {role} was read from stdin or a pipe")
    path = os.path.join(cwd, path)
    now = sha256_of(path)
    if now is None:
        raise UserError(f"cannot resume {shown}: its {role} {printable(path)} cannot be read")
    if now != digest:
        raise UserError(
            f"cannot resume {shown}: its {role} {printable(path)} has changed since the run "
            "started (its sha256 differs)"
        )


def checkpoint_to_resume(run_dir, shown: str, echo) -> str | None:
    """The newest complete checkpoint in RUN_DIR/checkpoints (None: restart from epoch 1), said
    on stderr through `echo`."""
    from .training.checkpoints import latest

    found = latest(os.path.join(run_dir, "checkpoints"))
    if found is None:
        echo(f"note: {printable(shown)} has no checkpoint; training restarts from epoch 1")
        return None
    epoch = int(found.name.split("-")[1])
    echo(f"resuming {printable(shown)} after epoch {epoch} ({found.name})")
    return str(found)
