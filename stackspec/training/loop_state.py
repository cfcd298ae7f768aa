"""The training loop's state at an epoch boundary: everything that decides the epochs still to
come, so that a run continued from it (fit's `resume`) goes on exactly as if it had never
stopped. checkpoints.py writes it to a folder and reads it back.

The state is a plain dict:
- "epoch": the last finished epoch (1-based);
- "weights": every tensor of the weight file (float32 NumPy arrays, running statistics and
  normalize statistics included);
- "optimizer": (tensors, scalars) from the backend's `_optimizer_state`;
- "rng": {"batch_order": the NumPy bit-generator state of fit.py's batch-order RNG,
  "dropout": the backend's `_rng_state()`; a data-parallel run's adds "ranks", every rank's
  state (rank r's at r), and each rank of a resumed run takes its own: `rank_rng`};
- "early_stop": {"best", "best_epoch", "wait"}, and "best_weights": the best epoch's weights
  when restore_best will need them (None when they are the current weights or not needed);
- "schedule": the learning-rate schedule's `state()` (None without a schedule);
- "history": the rows so far, with how the run stood ("stop_reason": "completed" while it goes
  on, "early_stop" or "stopped" when that epoch ended it).
"""

from __future__ import annotations

from ..diagnostics import UserError


class CheckpointError(UserError, ValueError):
    """A checkpoint that cannot be used: a ValueError for the API, exit 1 in the CLI."""


# A state whose last epoch ended training: a continued run trains no further epoch.
FINAL = ("early_stop", "stopped")


def export_state(loop, history, epoch: int, copy: bool = True) -> dict:
    """The state after `epoch`, of `loop` (fit._Loop) and its `history`, called once the loop has
    taken that epoch's snapshot; copies, so training may go on while it is written. With
    copy=False the optimizer's tensors are the live buffers (views, changed by the next step),
    for a caller that copies them at once where it wants them (Checkpoint: into its file)."""
    model = loop.model
    es = loop.train["early_stop"]
    best = None
    if es and es["restore_best"] and loop.best_weights is not None and history.best_epoch != epoch:
        best = model._snapshot_arrays(loop.best_weights)
    schedule = getattr(loop, "schedule", None)
    return {
        "epoch": epoch,
        # The loop took its copy of this epoch's weights already (its rollback snapshot, never
        # changed afterwards): reused, not copied again (the NumPy backend's is the arrays).
        "weights": model._snapshot_arrays(loop.snapshot),
        "optimizer": model._optimizer_state(copy),
        "rng": {"batch_order": loop.rng.bit_generator.state, "dropout": model._rng_state()},
        "early_stop": {
            "best": None if history.best is None else float(history.best),
            "best_epoch": history.best_epoch,
            "wait": loop.wait,
        },
        "best_weights": best,
        "schedule": None if schedule is None else schedule.state(),
        "history": {
            "keys": list(history),
            "epoch": list(history.epoch),
            "seconds": [float(x) for x in history.seconds],
            "values": {k: [float(x) for x in v] for k, v in history.items()},
            "stop_reason": history.stop_reason,
            "message": history.message,
        },
    }


def restore_state(loop, history, state: dict) -> int:
    """Put `state` back into `loop` (after the model's _begin_training) and `history` (empty,
    with this run's keys); returns the epoch to continue after. A CheckpointError when the state
    does not fit this run."""
    rows = state["history"]
    if rows["keys"] != list(history):
        raise CheckpointError(
            f"the checkpoint's history has the columns {', '.join(rows['keys'])}, this run "
            f"{', '.join(history)}: was it made with other metrics or validation data?"
        )
    model = loop.model
    tensors, scalars = state["optimizer"]
    try:
        model.set_weights(state["weights"])
        model._load_optimizer_state(tensors, scalars)
        dropout = rank_rng(model, state["rng"]["dropout"])
        if dropout is not None:
            model._set_rng_state(dropout)
        loop.rng.bit_generator.state = state["rng"]["batch_order"]
    except CheckpointError:
        raise
    except (KeyError, ValueError, TypeError) as e:
        raise CheckpointError(
            f"the checkpoint does not fit this model or optimizer ({e})"
        ) from None
    es = state["early_stop"]
    history.best, history.best_epoch, loop.wait = es["best"], es["best_epoch"], es["wait"]
    if state["best_weights"] is not None:
        current = model._snapshot()
        model.set_weights(state["best_weights"])
        loop.best_weights = model._snapshot()
        model._restore(current)
    elif history.best_epoch is not None:
        loop.best_weights = model._snapshot()
    schedule = getattr(loop, "schedule", None)
    if schedule is not None and state["schedule"] is not None:
        schedule.load_state(state["schedule"])
    history.epoch[:] = rows["epoch"]
    history.seconds[:] = rows["seconds"]
    for k in history:
        history[k][:] = rows["values"][k]
    if rows["stop_reason"] in FINAL:
        history.stop_reason, history.message = rows["stop_reason"], rows["message"]
    if history.epoch:
        loop.last_logs = {k: v[-1] for k, v in history.items()}
        history.weights = f"the weights of epoch {state['epoch']}"
    return int(state["epoch"])


def rank_rng(model, dropout: dict) -> dict | None:
    """This rank's dropout RNG state from a checkpoint's: its own when the checkpoint was
    written by as many workers as this run has (one process: the state itself). With another
    number of workers a model without dropout draws nothing from the RNG (None: keep the seeded
    one); one with dropout cannot continue exactly, a CheckpointError."""
    rank, size = model._rank()
    ranks = dropout.get("ranks", [dropout]) if isinstance(dropout, dict) else [dropout]
    if len(ranks) == size:
        return ranks[rank]
    if not any(node.op == "dropout" for node in model.ir.walk()):
        return None
    was, now = (("1 process" if n == 1 else f"{n} workers") for n in (len(ranks), size))
    raise CheckpointError(
        f"the checkpoint was written by {was} and this run has {now}: a model with dropout "
        f"continues exactly only with as many, as each draws its own masks (resume it with "
        f"--nproc {len(ranks)})"
    )
