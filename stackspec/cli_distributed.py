"""`train --nproc N` and `train` as a torchrun worker (docs/scaling.md).

`--nproc N` launches N workers on this machine through torch.distributed.run, as
`torchrun --standalone --nproc-per-node N --max-restarts K -m stackspec train ...` would: each
worker is `python -m stackspec train` with the same options (and an explicit --out, so that an
elastic restart finds its run folder). A worker knows itself by torchrun's RANK, WORLD_SIZE and
LOCAL_RANK, so `torchrun ... -m stackspec train ...` across machines runs the same code.
Only rank 0 writes (the run folder, history, curves, checkpoints) and prints; the other ranks
train silently, leave the errors that rank 0 meets too to rank 0 (`one_voice`) and exit with
the same code. After an elastic restart (TORCHELASTIC_RESTART_COUNT > 0) rank 0 continues its
run folder from the newest checkpoint, as `train --resume` would, unless training stopped on a
non-finite loss, which would come back (`stopped_for_good`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import uuid

import click

from .cli_exits import EXIT_INTERRUPTED, EXIT_USER, Failed
from .diagnostics import UserError

ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


# DDP wraps the training forward for each step; torch.compile of that wrapper is not wired up.
NO_COMPILE = "--compile cannot be combined with data-parallel training (--nproc, torchrun) yet"


def launch_options(f):
    f = click.option(
        "--max-restarts",
        type=click.IntRange(min=0),
        help="With --nproc: restart the workers up to K times when one dies; training resumes "
        "from the newest checkpoint [default: 0].",
    )(f)
    f = click.option(
        "--nproc",
        type=click.IntRange(min=1),
        help="Train data-parallel in N worker processes on this machine (torch backend; "
        "docs/scaling.md).",
    )(f)
    return f


def worker(backend: str, device: str):
    """This process's World when torchrun started it (None otherwise), joined to the process
    group; the NumPy backend is refused."""
    if not all(k in os.environ for k in ENV):
        return None
    if backend != "torch":
        raise click.UsageError(
            "a torchrun worker trains with the torch backend; add --backend torch"
        )
    from .backends.torch.distributed import World, init_group
    from .backends.torch.model import resolve_device

    world = World(*(int(os.environ[k]) for k in ENV))
    _die_with_parent()
    dev = resolve_device(device)
    if dev.type == "cuda":
        import torch

        torch.cuda.set_device(world.local_rank)
    init_group(world, dev)
    return world


def restarted() -> bool:
    """True in a worker that torchelastic restarted after a failure."""
    return int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") or 0) > 0


def restarts_allowed() -> bool:
    """True in a worker that torchelastic may restart (--max-restarts > 0)."""
    return int(os.environ.get("TORCHELASTIC_MAX_RESTARTS", "0") or 0) > 0


def _die_with_parent() -> None:
    """Linux: a worker gets SIGTERM when its launcher dies, however it dies, so no worker is
    ever left behind (torchrun kills them itself when it can)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG


def device_for(world, device: str) -> str:
    """A worker's device: its own GPU (LOCAL_RANK) when it trains on CUDA."""
    if world is None or device == "cpu":
        return device
    import torch

    return f"cuda:{world.local_rank}" if torch.cuda.is_available() else device


class LostPeer(UserError):
    """A collective failed because another worker stopped: that worker's failure is the news."""


def fit_parallel(world, model, fit, resume_from, n: int, batch: int, skips_last_one: bool):
    """model.fit (`fit`, a partial) data-parallel; rank 0 decides where to resume from."""
    from .backends.torch.distributed import (
        ShareRng,
        agree,
        check_batches,
        data_parallel,
        lost_peer,
    )

    check_batches(world, n, batch, skips_last_one)
    try:
        resume_from = agree(world, resume_from, model.device)
        with data_parallel(model, world) as step:
            callbacks = [ShareRng(step), *fit.keywords.get("callbacks", ())]
            return fit(resume_from=resume_from, callbacks=callbacks)
    except RuntimeError as e:
        if not lost_peer(e):
            raise
        raise LostPeer(
            f"rank {world.rank}: another worker stopped (torch.distributed: "
            f"{str(e).splitlines()[0][:200]})"
        ) from None


def stopped_for_good(out: str | None) -> None:
    """In a group that torchelastic restarted: when the run folder's run.json says training
    stopped on a non-finite loss, exit 1 at once and quietly. Training is deterministic, so the
    loss would go non-finite at the same step again; the first attempt said so. torchrun has no
    exit code that it does not restart, so each attempt left costs a start of the workers. Rank
    0 exits first and the others wait for torchrun's SIGTERM (were one of them first, rank 0
    would be the one stopped, and the launcher would report that rank); a rank whose machine
    does not see the run folder goes on to the rendezvous, where torchrun stops it as well."""
    if not restarted() or out is None:
        return
    from .training.run_folder import earlier_run

    record = earlier_run(out) or {}
    if record.get("status") == "failed" and record.get("stop_reason") == "nan":
        if os.environ.get("RANK") != "0":
            _outlive(EXIT_USER, 10)
        raise Failed(EXIT_USER)


@contextlib.contextmanager
def one_voice():
    """A worker of rank > 0 does not print the errors that rank 0 prints: a lost peer (another
    worker's failure) ends it quietly; its own error (a spec, the data, a bug) waits a few
    seconds for torchrun's SIGTERM, which comes when rank 0 fails too (the same error, said
    once, by rank 0) and ends it quietly with the error's exit code, and is printed only when
    this rank failed alone. Not a worker, or rank 0: errors as usual."""
    rank = os.environ.get("RANK") if all(k in os.environ for k in ENV) else None
    if rank in (None, "0"):
        yield
        return
    try:
        yield
    except (Failed, click.exceptions.Exit):
        raise
    except KeyboardInterrupt:
        raise Failed(EXIT_INTERRUPTED) from None
    except LostPeer:
        raise Failed(EXIT_USER) from None
    except Exception as e:
        from .backends.torch.distributed import lost_peer

        if isinstance(e, RuntimeError) and lost_peer(e):
            raise Failed(EXIT_USER) from None
        _outlive(e.exit_code if isinstance(e, click.ClickException) else EXIT_USER, 5)
        raise


def exit_code(history) -> int:
    """train's exit code after training: the same on every rank, whose histories are equal."""
    return {"nan": EXIT_USER, "interrupted": EXIT_INTERRUPTED}.get(history.stop_reason, 0)


def finish(world, code: int) -> None:
    """The end of a worker: every rank waits for rank 0's outputs; then rank 0 exits first with
    `code`, which torchrun reports, and a rank > 0 that fails with the same code waits for it
    (torchrun stops the other workers, by SIGTERM, when the first one fails), so that every
    rank exits with `code` and no rank's failure cuts rank 0's writing short."""
    import torch.distributed as dist

    dist.barrier()
    if world.rank == 0 or not code:
        dist.destroy_process_group()
        return
    _outlive(code, 10)
    raise Failed(code)


def _outlive(code: int, seconds: float) -> None:
    """Wait up to `seconds` for torchrun's SIGTERM (it stops the other workers, within its
    monitor interval, when the first one fails) and exit with `code` on it."""
    import signal
    import time

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: os._exit(code))
    time.sleep(seconds)


def launch(nproc: int | None, max_restarts: int | None, options: dict, resume) -> None:
    """Start the workers through torch.distributed.run and wait for them; their exit code."""
    if options.get("backend") != "torch" and resume is None:
        raise click.UsageError(
            "--nproc trains with torch.distributed: add --backend torch (the NumPy backend "
            "trains in one process)"
        )
    if options.get("compile"):
        raise click.UsageError(NO_COMPILE)
    inputs = {k: options.get(k) for k in ("spec", "data", "valid", "init")}
    if "-" in inputs.values():
        raise click.UsageError("--nproc reads its inputs in every worker: give files, not -")
    argv = _worker_argv(options, resume)
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import elastic_launch
    from torch.distributed.run import config_from_args, parse_args

    nproc = nproc or 1
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    args = parse_args(
        [
            # torchrun --standalone: a c10d rendezvous on a free local port
            "--rdzv-backend=c10d",
            "--rdzv-endpoint=127.0.0.1:0",
            f"--rdzv-id={uuid.uuid4()}",
            f"--nproc-per-node={nproc}",
            f"--max-restarts={max_restarts or 0}",
            "--monitor-interval=0.2",
            "-m",
            "stackspec",
            *argv,
        ]
    )
    args.master_port = args.master_port or 29500  # unused by c10d; torchrun sets it so too
    config, cmd, cmd_args = config_from_args(args)
    # torchrun's own log lines (closing signals, failures) repeat what the workers and the
    # exit code say.
    for name in [*logging.root.manager.loggerDict, "torch.distributed.elastic"]:
        if name.startswith("torch.distributed.elastic"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        elastic_launch(config=config, entrypoint=cmd)(*cmd_args)
    except SignalException:
        raise KeyboardInterrupt from None
    except ChildFailedError as e:
        raise Failed(_exit_code(e.failures)) from None


def _exit_code(failures: dict) -> int:
    """Rank 0's exit code when it failed on its own (it said why); else one line naming the
    worker that did. torchrun stops the other workers by SIGTERM when one fails, so those end
    killed by it or exiting 130, rank 0 among them: they are not the news."""
    codes = {rank: f.exitcode for rank, f in failures.items()}
    stopped = (EXIT_INTERRUPTED, -15)
    if codes.get(0, 0) > 0 and codes[0] not in stopped:  # rank 0 said why
        return codes[0]
    own = {rank: code for rank, code in codes.items() if code not in stopped}
    if not own:  # every worker stopped by a signal: an interrupt, said by rank 0
        return EXIT_INTERRUPTED
    # A worker that exited on its own first, then one killed by a signal (the kernel's, a user's)
    rank, code = min(own.items(), key=lambda item: (item[1] < 0, item[0]))
    how = f"exited with {code}" if code >= 0 else f"was killed by signal {-code}"
    click.echo(f"error: worker rank {rank} {how}", err=True)
    return EXIT_USER


def _worker_argv(options: dict, resume) -> list[str]:
    """`train ...` as given, without the launcher's options, with an explicit --out."""
    argv, skip = [], False
    for token in sys.argv[1:]:
        if skip:
            skip = False
            continue
        name = token.split("=", 1)[0]
        if name in ("--nproc", "--max-restarts"):
            skip = "=" not in token
            continue
        argv.append(token)
    if resume is None and options.get("out") is None:
        from .training import run_folder as rf

        stem = os.path.splitext(os.path.basename(options["spec"]))[0]
        argv += ["--out", rf.next_free(os.path.join("runs", stem))]
    return argv
