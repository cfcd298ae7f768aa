"""`stackspec tune` (an Optuna study over the spec's search spaces) and `stackspec sweep` (a grid
of `--set` values). Every trial and every point is a normal `train` run folder, made by
cli_train.run_train; what train prints goes to the folder's train.log, and one line per run is
printed here. docs/tuning.md explains the study's storage, resuming and parallel workers.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import time
from pathlib import Path

import click

from .cli_exits import EXIT_INTERRUPTED, Failed
from .cli_options import INPUT, FiniteFloatRange, spec_options
from .cli_train import run_inputs, run_train
from .diagnostics import UserError, printable

# train's options that a trial passes on unchanged.
TRAIN_KEYS = ("data", "target", "drop", "delimiter", "backend", "device", "valid_split", "valid")
TRAIN_KEYS += ("epochs", "batch", "seed", "precision", "compile")


def run_options(f):
    """The options of a run that tune and sweep pass to every trial (train's own), with what a
    run is judged by and where the runs go."""
    f = click.option("--out", type=click.Path(), help="[default: runs/<spec>-tune|sweep]")(f)
    f = click.option(
        "--metric",
        default="val_loss",
        show_default=True,
        help="What a run is judged by: a history column (val_loss, val_accuracy, ...).",
    )(f)
    # The data is read once per run: a file, not stdin.
    return spec_options(run_inputs("The CSV file.", data_required=True)(f))


def _direction(metric: str, given: str | None) -> str:
    from .training.comparison import better

    return given or ("minimize" if better(metric) == "min" else "maximize")


def run_point(options: dict, folder: Path, sets: list[str], callbacks=()) -> str | None:
    """One training run into `folder`; its output goes to folder/train.log. None when it ran,
    else why it failed (a sentence); an interrupt is re-raised as Failed(130)."""
    log = io.StringIO()
    error = None
    try:
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            run_train(
                options["spec"],
                **{k: options[k] for k in TRAIN_KEYS},
                out=str(folder),
                force=True,
                sets=tuple(sets),
                callbacks=callbacks,
            )
    except Failed as e:
        if e.code == EXIT_INTERRUPTED:
            raise
        error = "training failed (see train.log)"
    except KeyboardInterrupt:
        raise Failed(EXIT_INTERRUPTED) from None
    except UserError as e:
        error = printable(str(e)).splitlines()[0]
        log.write(str(e) + "\n")
    finally:
        if folder.is_dir():
            (folder / "train.log").write_text(log.getvalue(), encoding="utf-8")
    return error


def mark_run(folder: Path, **fields) -> None:
    """Add fields to a run's run.json (the study and trial it belongs to)."""
    from .files import write_bytes

    path = folder / "run.json"
    with contextlib.suppress(OSError, ValueError):
        record = json.loads(path.read_text(encoding="utf-8"))
        record.update(fields)
        write_bytes(path, (json.dumps(record, indent=2, allow_nan=False) + "\n").encode())


def metric_text(metric: str, value) -> str:
    return f"{metric} {value:.4g}" if value is not None else f"{metric}: none"


# --- tune ----------------------------------------------------------------------------------


@click.command()
@click.argument("spec", type=INPUT)
@click.option("--trials", type=click.IntRange(min=1), required=True, help="Trials in the study.")
@click.option("--timeout", type=FiniteFloatRange(min=0), help="Start no trial after S seconds.")
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Trials run at once, each in its own process.",
)
@click.option("--storage", help="An Optuna RDB URL [default: sqlite:///OUT/tune.db].")
@click.option("--study", "study_name", help="[default: the spec's name]")
@click.option(
    "--direction",
    type=click.Choice(["minimize", "maximize"]),
    help="[default: minimize for losses and errors, else maximize]",
)
@click.option("--sampler-seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True)
@click.option(
    "--prune-after",
    type=click.IntRange(min=0),
    default=5,
    show_default=True,
    help="Trials that finish before the median pruner may stop one.",
)
@click.option("--worker", type=int, hidden=True)
@run_options
def tune(spec, sets, **o):
    """Search SPEC's spaces (`let width = choice(256, 512)`, ...) with Optuna: each trial a run
    folder OUT/trial-NNNN; then the best trials, OUT/best.stack and the study's plots."""
    from .training.tuning import require

    optuna = require()
    o.update(spec=spec, sets=sets)
    spaces = _spaces(spec, sets)
    out = Path(o["out"] or os.path.join("runs", Path(spec).stem + "-tune"))
    out.mkdir(parents=True, exist_ok=True)
    o["out"] = str(out)
    storage = o["storage"] or f"sqlite:///{out.resolve() / 'tune.db'}"
    direction = _direction(o["metric"], o["direction"])
    study = optuna.create_study(
        storage=storage,
        study_name=o["study_name"] or Path(spec).stem,
        direction=direction,
        load_if_exists=True,
        pruner=optuna.pruners.MedianPruner(n_startup_trials=o["prune_after"]),
    )
    if study.direction.name.lower() != direction:
        raise UserError(
            f"the study {study.study_name} in {storage} is to "
            f"{study.direction.name.lower()}, not {direction}"
        )
    if o["worker"] is None:
        _fail_stale(study, optuna)
    workers = [] if o["worker"] else _start_workers(o)
    try:
        _work(study, spaces, o, optuna)
    finally:
        _wait(workers)
    if o["worker"] is None:
        _report(study, spec, o, out, optuna)


def _spaces(spec: str, sets) -> dict:
    """The spaces left to search (those no --set fixes); the spec's errors first, its warnings
    shown except W205, which says what tune is here to do."""
    from .cli_options import current_limits, parse_sets
    from .compiler.spaces import spaces_of
    from .diagnostics import render_all
    from .spec import load

    s = load(spec, parse_sets(sets), limits=current_limits())
    shown = [w for w in s.warnings if w.code != "W205"]
    if shown:
        click.echo(render_all(shown, s.source), err=True)
    spaces = {k: v for k, v in spaces_of(s.source).items() if k not in parse_sets(sets)}
    if not spaces:
        raise UserError(
            f"{spec} has no search space left to tune; write one in a `let`, as "
            "`let width = choice(256, 512)` or `let lr = loguniform(1e-4, 1e-2)`"
        )
    return spaces


def _fail_stale(study, optuna) -> None:
    """Trials left running by a process of this machine that is gone (killed) are failed, so
    that they stop counting as running."""
    import socket

    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        pid, host = t.user_attrs.get("pid"), t.user_attrs.get("host")
        if host == socket.gethostname() and pid and not _alive(pid):
            study.tell(t.number, state=optuna.trial.TrialState.FAIL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _start_workers(o: dict) -> list:
    """jobs - 1 more processes running the same study (each its own Python: trials train in
    parallel, not in threads that share one interpreter lock); their output goes to
    OUT/worker-K.log."""
    import subprocess
    import sys

    argv = [sys.executable, "-m", "stackspec", "tune", o["spec"], "--worker"]
    for key, value in o.items():
        flag = "--" + key.replace("_", "-")
        if key in ("spec", "worker", "jobs") or value is None or value == ():
            continue
        if key == "sets":
            argv += [x for item in value for x in ("--set", item)]
        elif key == "drop":
            argv += [x for item in value for x in ("--drop", item)]
        elif key == "study_name":
            argv += ["--study", str(value)]
        else:
            argv += [flag, str(value)]
    procs = []
    for k in range(1, o["jobs"]):
        log = open(Path(o["out"]) / f"worker-{k}.log", "w", encoding="utf-8")  # noqa: SIM115
        procs.append(
            (subprocess.Popen([*argv[:6], str(k), *argv[6:]], stdout=log, stderr=log), log)
        )
    return procs


def _wait(procs) -> None:
    import signal

    for proc, log in procs:
        try:
            proc.wait()
        except KeyboardInterrupt:
            proc.send_signal(signal.SIGINT)
            proc.wait()
            raise
        finally:
            log.close()


def _counted(t, states) -> bool:
    """Trials that count toward --trials: all but those an interrupt cut short (a rerun
    replaces them)."""
    return t.state != states.FAIL or not t.user_attrs.get("interrupted")


@contextlib.contextmanager
def _locked(path: Path):
    """One process of this machine at a time counts the trials and asks for the next one, so
    that --jobs workers never start more than --trials trials."""
    import fcntl

    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _work(study, spaces: dict, o: dict, optuna) -> None:
    import socket

    states = optuna.trial.TrialState
    start = time.monotonic()
    while o["timeout"] is None or time.monotonic() - start < o["timeout"]:
        with _locked(Path(o["out"]) / "tune.lock"):
            trials = study.get_trials(deepcopy=False)
            if sum(_counted(t, states) for t in trials) >= o["trials"]:
                return
            # A sampler seeded by the study's length: the same study gives the same next trial
            # whoever asks, and a resumed study does not draw its first trials again.
            study.sampler = optuna.samplers.TPESampler(
                seed=(o["sampler_seed"] + len(trials)) % 2**32,
                n_startup_trials=max(1, min(10, o["trials"] // 2)),
            )
            trial = study.ask()
            trial.set_user_attr("host", socket.gethostname())
            trial.set_user_attr("pid", os.getpid())
        _trial(study, trial, spaces, o, optuna)


def _trial(study, trial, spaces: dict, o: dict, optuna) -> None:
    from .training.tuning import Pruning, suggest

    states, metric = optuna.trial.TrialState, o["metric"]
    values = suggest(trial, spaces)
    folder = Path(o["out"]) / f"trial-{trial.number:04d}"
    prune = Pruning(trial, metric)
    try:
        error = run_point(
            o, folder, [*o["sets"], *(f"{k}={v}" for k, v in values.items())], [prune]
        )
    except Failed:
        trial.set_user_attr("interrupted", True)
        study.tell(trial, state=states.FAIL)
        mark_run(
            folder,
            tune={
                "study": study.study_name,
                "trial": trial.number,
                "state": "interrupted",
                "params": values,
            },
        )
        click.echo(
            f"interrupted in trial {trial.number}; run the same command again to "
            "continue the study",
            err=True,
        )
        raise
    value, state = prune.best, "complete"
    if prune.missing is not None:
        study.tell(trial, state=states.FAIL)
        raise UserError(
            f"--metric {metric}: the history has no such column (it has "
            f"{', '.join(prune.missing)}); val_ columns need validation data"
        )
    if error or value is None:
        state = "failed"
        study.tell(trial, state=states.FAIL)
    elif prune.pruned_at is not None:
        state = f"pruned at epoch {prune.pruned_at}"
        study.tell(trial, state=states.PRUNED)
    else:
        study.tell(trial, value)
    mark_run(
        folder,
        tune={
            "study": study.study_name,
            "trial": trial.number,
            "state": state,
            "value": value,
            "params": values,
        },
    )
    shown = " ".join(f"{k}={v}" for k, v in values.items())
    click.echo(f"trial {trial.number}: {shown} -> {metric_text(metric, value)} ({error or state})")


def _report(study, spec: str, o: dict, out: Path, optuna) -> None:
    from .training.tuning import param_texts, trials_table, write_plots

    states = optuna.trial.TrialState
    trials = study.get_trials(deepcopy=False)
    count = {s: sum(t.state == s for t in trials) for s in states}
    click.echo(
        f"study {study.study_name}: {count[states.COMPLETE]} complete, "
        f"{count[states.PRUNED]} pruned, {count[states.FAIL]} failed"
    )
    done = [t for t in trials if t.state == states.COMPLETE]
    if not done:
        raise UserError("no trial completed: nothing to report (see the trials' train.log)")
    done.sort(key=lambda t: t.value, reverse=study.direction.name == "MAXIMIZE")
    rows = [
        (f"trial-{t.number:04d}", "complete", t.value, param_texts(t.params)) for t in done[:10]
    ]
    click.echo(trials_table(rows, o["metric"]))
    best = done[0]
    _write_best(spec, o, out, study, best)
    notes: list[str] = []
    made = write_plots(study, out, notes)
    for note in notes:
        click.echo(f"note: {printable(note)}", err=True)
    click.echo(f"wrote {printable(str(out))}/: best.stack, {', '.join(made)}", err=True)


def _write_best(spec: str, o: dict, out: Path, study, best) -> None:
    """best.stack: the spec with the best trial's values (and the --set ones) in its lets."""
    from .cli_options import parse_sets
    from .compiler.fmt import format_source
    from .compiler.spaces import substitute
    from .files import write_bytes
    from .spec import read_spec
    from .training.tuning import param_texts

    source = read_spec(spec)
    values = {**parse_sets(o["sets"]), **param_texts(best.params)}
    head = (
        f"# The best trial ({best.number}) of study {study.study_name}: "
        f"{o['metric']} {best.value:.6g}\n"
    )
    text = format_source(head + substitute(source, values))
    write_bytes(out / "best.stack", text.encode("utf-8"))
