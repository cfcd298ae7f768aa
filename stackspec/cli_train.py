"""`stackspec train`: the options, and `run_train`, the command's body, which takes the options'
values by name. run.json records them resolved (its "args"), so a run can be made again, or
continued, from its record alone. The run folder's rules are in training/run_folder.py."""

from __future__ import annotations

import os
import sys

import click

from . import cli_distributed as workers
from .cli_exits import Failed
from .cli_model import build_model, check_memory, load_spec, load_weights_into
from .cli_options import (
    DATA_HELP,
    INPUT,
    FiniteFloatRange,
    backend_options,
    data_options,
    data_section,
    one_stdin,
    precision_options,
    spec_options,
)
from .compiler.settings import SEED_MAX
from .diagnostics import printable

# The files `wrote RUN/: ...` lists.
WROTE = "weights.safetensors, history.csv, curves.png, spec.stack, run.json"


def run_inputs(data_help: str, data_required: bool):
    """What a run trains on and for how long: train's options, which tune and sweep also pass to
    every run they make (cli_tune.run_options)."""

    def decorate(f):
        for option in reversed(
            (
                click.option("--data", type=INPUT, required=data_required, help=data_help),
                click.option(
                    "--target", help="The CSV column to predict [default: the data section's]."
                ),
                data_options,
                backend_options,
                precision_options,
                click.option(
                    "--valid-split",
                    type=FiniteFloatRange(0, 1, max_open=True),
                    help="Fraction of --data held out for validation, at random from the seed "
                    "[default: 0.3; 0 for none].",
                ),
                click.option("--valid", type=INPUT, help="Validation CSV."),
                click.option(
                    "--epochs", type=click.IntRange(min=1), help="Override the train section's."
                ),
                click.option(
                    "--batch", type=click.IntRange(min=1), help="Override the train section's."
                ),
                click.option(
                    "--seed",
                    type=click.IntRange(0, SEED_MAX),
                    help="Override the train section's (0 to 2^63-1).",
                ),
            )
        ):
            f = option(f)
        return f

    return decorate


@click.command()
@click.argument("spec", type=INPUT, required=False)
@run_inputs(DATA_HELP + " Required (but with --resume).", data_required=False)
@click.option(
    "--weight-column",
    help="A CSV column of per-row weights of the training loss, not a feature "
    "[default: the train section's weight_column].",
)
@click.option(
    "--init",
    type=INPUT,
    help="Start from this weight file (fine-tuning; a fresh optimizer). Its data encoding and "
    "normalize statistics are kept.",
)
@click.option(
    "--out", type=click.Path(), help="[default: runs/<spec name>, or the next free runs/<name>-N]"
)
@click.option("--force", is_flag=True, help="Replace an earlier run in --out.")
@click.option(
    "--resume",
    metavar="RUN_DIR",
    type=click.Path(file_okay=False),
    help="Continue the interrupted run in RUN_DIR from its newest checkpoint, with the options "
    "its run.json records (give no others).",
)
@click.option(
    "--tensorboard", is_flag=True, help="Also write TensorBoard event files into RUN/tensorboard."
)
@workers.launch_options
@spec_options
@click.pass_context
def train(ctx, resume, nproc, max_restarts, **options):
    """Train SPEC on a CSV; write weights, history, learning curves, the spec and run.json into
    the run folder (--out). `train --resume RUN_DIR` continues an interrupted run."""
    if nproc is not None or max_restarts is not None:
        if resume is None and (options["spec"] is None or options["data"] is None):
            raise click.UsageError("Missing argument SPEC or option '--data'.")
        workers.launch(nproc, max_restarts, options, resume)
        return
    with workers.one_voice():  # a torchrun worker of rank > 0 leaves the errors to rank 0
        workers.stopped_for_good(resume or options["out"])
        _train(ctx, resume, options)


def _train(ctx, resume, options: dict) -> None:
    if resume is None:
        missing = "argument SPEC" if options["spec"] is None else "option '--data'"
        if options["spec"] is None or options["data"] is None:
            raise click.UsageError(f"Missing {missing}.")
        run_train(**options)
        return
    from .cli_resume import given_with_resume, resumed_options

    given = given_with_resume(ctx)
    if given:
        raise click.UsageError(
            f"--resume takes the run's options from its run.json; do not give {', '.join(given)}"
        )
    run_train(**resumed_options(resume), out=resume, resume=True)


def run_train(
    spec,
    data,
    target=None,
    drop=(),
    delimiter=None,
    backend="numpy",
    device="auto",
    precision="32",
    compile=False,
    valid_split=None,
    valid=None,
    weight_column=None,
    epochs=None,
    batch=None,
    seed=None,
    init=None,
    out=None,
    force=False,
    tensorboard=False,
    sets=(),
    resume=False,
    callbacks=(),
) -> None:
    """The run; `callbacks` (tune's pruning) are called after the run folder's own."""
    from .training import run_folder as rf
    from .training.data_section import training_arrays
    from .training.runs import plan_out_dir

    if valid and valid_split is not None:
        raise click.UsageError("give --valid or --valid-split, not both")
    world = workers.worker(backend, device)  # None unless torchrun started this process
    leader = world is None or world.rank == 0
    if world is not None and compile:
        raise click.UsageError(workers.NO_COMPILE)
    one_stdin(SPEC=spec, **{"--data": data, "--valid": valid, "--init": init})
    s = load_spec(spec, sets)
    section = data_section(
        s.ir, target, drop, delimiter, weight=weight_column
    )  # usage errors first
    if batch is not None:
        check_memory(s, batch)
    if tensorboard:
        from .training.tensorboard import require

        require()
    inputs = (
        ("the spec", spec),
        ("the --data file", data),
        ("the --valid file", valid),
        ("the --init file", init),
    )
    claim = replaces = real_out = None
    if out is None and leader:
        base = os.path.join("runs", "stdin" if spec == "-" else _stem(spec))
        out = rf.next_free(base)
        claim = (os.path.realpath(base), base)
    if leader:
        real_out = plan_out_dir(out, inputs)
        # An elastic restart continues the run folder that the failed attempt started.
        resume = resume or (workers.restarted() and rf.earlier_run(real_out) is not None)
    if leader and not resume:  # --resume checked the run it continues (cli_resume)
        replaces = rf.refuse_earlier(real_out, out, force)
    seed = s.ir.train["seed"] if seed is None else seed
    model = build_model(s, backend, workers.device_for(world, device), seed)
    model._check_training(precision, compile)  # before the run folder: exit 1, nothing written
    if init is not None:
        load_weights_into(model, init)
    X, y, validation, learned, notes, w = training_arrays(
        s.ir, section, data, target, valid, valid_split, seed, weight_column, model.encoding
    )
    if leader:
        click.echo("".join(f"note: {printable(n)}\n" for n in notes), err=True, nl=False)
    model.encoding = learned
    args = {
        "spec": spec,
        "data": data,
        "target": target,
        "drop": list(drop),
        "delimiter": delimiter,
        "valid": valid,
        "weight_column": weight_column,
        "valid_split": (0.3 if valid_split is None else valid_split) if valid is None else None,
        "epochs": s.ir.train["epochs"] if epochs is None else epochs,
        "batch": s.ir.train["batch"] if batch is None else batch,
        "seed": seed,
        "sets": list(sets),
        "backend": backend,
        "device": device,
        "precision": precision,
        "compile": compile,
        "init": init,
        "tensorboard": tensorboard,
    }
    if not leader:
        history = _fit(None, None, model, X, y, validation, w, args, world=world)
        workers.finish(world, workers.exit_code(history))
        return
    record = rf.new_record(s, model, args, sys.argv, X, validation)
    if section is not None:  # the columns the data section chose
        record["target"] = ", ".join(section["target"]) or None
    resume_from = None
    if resume:
        from .cli_resume import checkpoint_to_resume

        record = {**rf.earlier_run(real_out), "status": "running"}
        resume_from = checkpoint_to_resume(real_out, out, _note)
    folder = rf.RunFolder(real_out, out, record, claim, replaces, resuming=resume)
    start = rf.StartRun(folder, s.source, sets, None if resume else _announce)
    history = _fit(folder, start, model, X, y, validation, w, args, resume_from, callbacks, world)
    folder.finish(s, model, history)
    click.echo(f"wrote {printable(folder.shown)}/: {WROTE} ({history.weights})")
    if history.stop_reason == "nan":
        click.echo(f"error: training failed: {history.message}", err=True)
    code = workers.exit_code(history)
    if world is not None:
        workers.finish(world, code)
    if code:
        raise Failed(code)


def _note(text: str) -> None:
    click.echo(text, err=True)


def _announce(shown: str) -> None:
    click.echo(f"run folder: {printable(shown)}/", err=True)


def _fit(folder, start, model, X, y, validation, w, args, resume_from=None, extra=(), world=None):
    """model.fit with the run folder's callbacks (none on a rank > 0, which has no folder),
    data-parallel in a torchrun worker; run.json says so if it ends in an error or a second
    Ctrl-C (which leaves no weights)."""
    import functools

    from .training.callbacks import LiveHistory

    callbacks = [] if folder is None else [start, LiveHistory(folder), *extra]
    setting = model.ir.train.get("checkpoint")
    if world is not None and setting is None and workers.restarts_allowed():
        setting = {"every": 1, "keep": 1}  # elastic restarts resume from the last epoch
    if setting and folder is not None:
        from .training.checkpoints import Checkpoint

        callbacks.append(Checkpoint(lambda: folder.path / "checkpoints", **setting))
    board = None
    if args["tensorboard"] and folder is not None:
        from .training.tensorboard import TensorBoard

        board = TensorBoard(folder)
        callbacks.append(board)
    fit = functools.partial(
        model.fit,
        X,
        y,
        validation_data=validation,
        epochs=args["epochs"],
        batch=args["batch"],
        seed=args["seed"],
        verbose="auto" if folder is not None else 0,
        callbacks=callbacks,
        sample_weight=w,
        adapt=args["init"] is None,
        precision=args["precision"],
        compile=args["compile"],
    )
    try:
        if world is None:
            return fit(resume_from=resume_from)
        from .training.fit import has_batchnorm

        skips = has_batchnorm(model.ir)
        return workers.fit_parallel(world, model, fit, resume_from, len(X), args["batch"], skips)
    except KeyboardInterrupt:
        if folder is not None:
            folder.failed("interrupted")
        raise
    except Exception as e:
        if folder is not None:  # a worker that died took nothing from the run: resumable
            folder.failed(str(e) or type(e).__name__, isinstance(e, workers.LostPeer))
        raise
    finally:
        if board is not None:
            board.close()


def _stem(path: str) -> str:
    from pathlib import Path

    return Path(path).stem
