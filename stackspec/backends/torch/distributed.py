"""Data-parallel training of a TorchModel over torch.distributed (docs/scaling.md).

`data_parallel(model, world, n, batch)` is a context manager around `model.fit` in a worker
process (one per rank, started by torchrun or `train --nproc`). Inside it:

- every rank receives the same global batch from fit.py's loop (the same seeded permutation on
  every rank) and trains on its contiguous slice, np.array_split's: the spec's `batch` is the
  global batch and must divide by the world size; the last, smaller batch of an epoch is split
  as evenly as it goes;
- the forward goes through DistributedDataParallel, which averages the gradients over the
  ranks; rank r's loss (the mean over its k_r of the batch's K examples) weighs k_r / K * world
  size in the backward, so the average is exactly the gradient of the global batch's mean loss,
  also for an uneven last batch;
- batchnorm normalizes with the global batch's statistics (`GlobalBatchNorm`: two all_reduces
  in the forward, their autograd twins in the backward), so 2 ranks reach the weights of one
  process within float32 reduction-order rounding;
- the step's loss and outputs, and validation's outputs, are gathered from every rank, so the
  loop's history, metrics, early stopping and NaN rule see global values and decide the same
  on every rank; a stop request (Ctrl-C, SIGTERM) is agreed by an all_reduce before it counts;
- dropout: rank r draws its masks from torch's RNG seeded with seed + r (rank 0 as one process);
  at each epoch's end every rank's RNG state is gathered to rank 0 (`ShareRng`, the first
  callback), so that a checkpoint holds them all and a resumed run gives each rank its own back
  (loop_state.rank_rng): a run continued after a restart equals an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ...diagnostics import UserError
from ...training.callbacks import Callback


@dataclass(frozen=True)
class World:
    """This process's place among the workers (torchrun's RANK, WORLD_SIZE, LOCAL_RANK)."""

    rank: int
    size: int
    local_rank: int


def init_group(world: World, device: torch.device) -> None:
    """Join the process group: NCCL for CUDA, gloo for the CPU (env:// rendezvous, torchrun's
    MASTER_ADDR and MASTER_PORT)."""
    if dist.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    if not dist.is_available() or (backend == "gloo" and not dist.is_gloo_available()):
        raise UserError(f"this torch build has no torch.distributed {backend} backend")
    store = None
    if os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True":
        # The agent's store outlives a restart: the keys of each attempt under their own
        # prefix, or a restarted group would read its dead predecessors' addresses.
        attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
        client = dist.TCPStore(
            os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), world.size, False
        )
        store = dist.PrefixStore(f"stackspec/attempt_{attempt}", client)
    dist.init_process_group(backend, store=store, rank=world.rank, world_size=world.size)


def lost_peer(error: BaseException) -> bool:
    """A collective failed because another worker is gone (gloo/NCCL transport errors)."""
    text = str(error)
    return isinstance(error, dist.DistError) or "gloo" in text or "NCCL" in text


def check_batches(world: World, n: int, batch: int, skips_last_one: bool) -> None:
    """The spec's batch is the global batch: it divides by the world size, and no batch leaves
    a rank without an example. A UserError saying which otherwise."""
    if batch % world.size:
        raise UserError(
            f"batch {batch} does not divide over {world.size} workers: the spec's batch is the "
            f"global batch; use a multiple of {world.size}"
        )
    last = (n - (1 if skips_last_one and n % batch == 1 else 0)) % batch
    if 0 < last < world.size:
        raise UserError(
            f"{n} training examples in batches of {batch} leave a last batch of {last}, fewer "
            f"than the {world.size} workers; choose a batch that leaves none or at least "
            f"{world.size} examples"
        )


class _SumOverRanks(torch.autograd.Function):
    """all_reduce(SUM) with its gradient: every rank's output is the sum, so the gradient of the
    loss (summed over ranks) with respect to each rank's input is the sum of the gradients."""

    @staticmethod
    def forward(ctx, x):
        x = x.clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad):
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class GlobalBatchNorm:
    """Batch normalization over the global batch in training mode (eval mode is the module's
    own): torch's nn.SyncBatchNorm runs on CUDA only, this on any process group. Swapped into a
    module's class so that its parameters and buffers (and the model's weight slots) stay."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return super().forward(x)
        dims = [0, *range(2, x.dim())]
        count = x.new_tensor(float(x.numel() // x.shape[1]))
        # Two passes (mean, then squared deviations), as a single process computes them:
        # E[x^2] - E[x]^2 would lose digits to cancellation.
        sums = _SumOverRanks.apply(torch.cat((x.sum(dims), count.reshape(1))))
        total = sums[-1].detach()
        mean = sums[:-1] / total
        shape = [1, -1] + [1] * (x.dim() - 2)
        centered = x - mean.reshape(shape)
        var = _SumOverRanks.apply((centered * centered).sum(dims)) / total
        with torch.no_grad():
            self._track(mean.detach(), var.detach(), total)
        y = centered * torch.rsqrt(var + self.eps).reshape(shape)
        if self.affine:
            y = y * self.weight.reshape(shape) + self.bias.reshape(shape)
        return y

    def _track(self, mean: torch.Tensor, var: torch.Tensor, total: torch.Tensor) -> None:
        """torch's running statistics: the unbiased variance, `momentum` the fraction replaced."""
        if not self.track_running_stats:
            return
        self.num_batches_tracked += 1
        m = self.momentum
        self.running_mean.mul_(1 - m).add_(mean, alpha=m)
        self.running_var.mul_(1 - m).add_(var * (total / (total - 1)), alpha=m)


class GlobalBatchNorm1d(GlobalBatchNorm, nn.BatchNorm1d):
    pass


class GlobalBatchNorm2d(GlobalBatchNorm, nn.BatchNorm2d):
    pass


GLOBAL = {nn.BatchNorm1d: GlobalBatchNorm1d, nn.BatchNorm2d: GlobalBatchNorm2d}


def _swap_batchnorm(model: nn.Module, table: dict) -> None:
    for module in model.modules():
        if type(module) in table:
            module.__class__ = table[type(module)]


class _ScaleGradient(torch.autograd.Function):
    """The identity, whose backward multiplies the gradient by `factor`: rank r's mean loss
    weighs k_r / K * world size, so DDP's mean over ranks is the global batch's mean loss's
    gradient, also through the batchnorm statistics that every rank shares."""

    @staticmethod
    def forward(ctx, x, factor: float):
        ctx.factor = factor
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.factor, None


class _Step:
    """The model's methods that fit.py calls, made data-parallel (installed on the instance)."""

    def __init__(self, model, world: World):
        self.model, self.world = model, world
        self.plain = {name: getattr(model, name) for name in self.REPLACED}
        self.ranks = None
        logits = nn.Sequential(*list(model.layers)[: model._logit_modules])
        ids = [model.device.index] if model.device.type == "cuda" else None
        self.ddp = DistributedDataParallel(logits, device_ids=ids, forward_sync_buffers=False)

    REPLACED = ("_train_step", "_predict_batch", "_begin_training", "_rng_state", "_rank")

    def _begin_training(self, train: dict) -> None:
        self.plain["_begin_training"](train)
        torch.manual_seed((train["seed"] + self.world.rank) % 2**63)  # per-rank dropout masks
        self.ranks = None  # every rank's RNG state at the last epoch's end (rank 0's ShareRng)

    def _rank(self) -> tuple[int, int]:
        return self.world.rank, self.world.size

    def _rng_state(self) -> dict:
        """Rank 0's dropout RNG state, as one process's, with every rank's under "ranks"."""
        own = self.plain["_rng_state"]()
        return own if self.ranks is None else {**own, "ranks": self.ranks}

    def _mine(self, n: int) -> slice:
        """This rank's rows of a batch of n: np.array_split's parts, from `_share`'s counts."""
        rank = self.world.rank
        start = rank * (n // self.world.size) + min(rank, n % self.world.size)
        return slice(start, start + self._share(n, rank))

    def _train_step(self, x, y, w=None):
        mine = self._mine(len(x))
        k = mine.stop - mine.start
        factor = k * self.world.size / len(x)
        # The step's forward goes through DDP (its backward averages the gradients over the
        # ranks): it stands in for the model's training forward (`_forward`) for this call,
        # set in the instance's __dict__ (nn.Module would register a module as a child).
        state = self.model.__dict__
        plain = state["_forward"]
        if factor == 1.0:
            state["_forward"] = self.ddp
        else:  # an uneven last batch
            state["_forward"] = lambda x: _ScaleGradient.apply(self.ddp(x), factor)
        try:
            loss, out = self.plain["_train_step"](x[mine], y[mine], None if w is None else w[mine])
        finally:
            state["_forward"] = plain
        outputs = self._gather(out, len(x), extra=loss * k / len(x))
        return float(outputs[1]), outputs[0]

    def _predict_batch(self, x):
        mine = self._mine(len(x))
        return self._gather(self.plain["_predict_batch"](x[mine]), len(x))[0]

    def _gather(self, out: np.ndarray, n: int, extra: float = 0.0):
        """Every rank's outputs in batch order (one all_gather, padded to the largest share),
        and the sum over ranks of `extra`."""
        size = -(-n // self.world.size)
        row = int(np.prod(out.shape[1:], dtype=np.int64))
        mine = torch.zeros(size * row + 1, dtype=torch.float64, device=self.model.device)
        mine[: out.size] = torch.from_numpy(out.reshape(-1).astype(np.float64))
        mine[-1] = extra
        parts = [torch.empty_like(mine) for _ in range(self.world.size)]
        dist.all_gather(parts, mine)
        every = torch.stack(parts).cpu().numpy()
        total = float(every[:, -1].sum())
        rows = []
        for rank in range(self.world.size):
            share = self._share(n, rank)
            rows.append(every[rank, : share * row])
        flat = np.concatenate(rows).astype(np.float32)
        return flat.reshape(n, *out.shape[1:]), total

    def _share(self, n: int, rank: int) -> int:
        """How many rows of a batch of n `rank` trains on (the first n % size ranks one more)."""
        return n // self.world.size + (rank < n % self.world.size)


class ShareRng(Callback):
    """Every rank's dropout RNG state to rank 0 at each epoch's end (one gather_object, a few
    kilobytes): first among the callbacks, so a checkpoint written after it holds them all."""

    def __init__(self, step: _Step):
        self.step = step

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        step = self.step
        every = [None] * step.world.size if step.world.rank == 0 else None
        dist.gather_object(step.plain["_rng_state"](), every, dst=0)
        step.ranks = every


class AgreedStop:
    """fit.py's stop flag as all ranks agree on it: each read is an all_reduce, so every rank
    stops after the same batch (fit reads it at the same points on every rank)."""

    def __init__(self, flag, device: torch.device):
        self.flag, self.device = flag, device

    @property
    def requested(self):
        local = torch.tensor([1.0 if self.flag.requested else 0.0], device=self.device)
        dist.all_reduce(local)
        if local.item() and not self.flag.requested:
            return "SIGTERM"  # another rank's signal: torchrun sends it to every worker
        return self.flag.requested if local.item() else None


@contextlib.contextmanager
def data_parallel(model, world: World):
    """Make `model` train data-parallel while the block runs; plain again afterwards (rank 0
    then writes its outputs with no collective left)."""
    step = _Step(model, world)
    _swap_batchnorm(model, GLOBAL)
    for name in step.REPLACED:
        model.__dict__[name] = getattr(step, name)
    model.__dict__["_agreed_stop"] = lambda flag: AgreedStop(flag, model.device)
    try:
        yield step
    finally:
        for name in (*step.REPLACED, "_agreed_stop"):
            model.__dict__.pop(name, None)
        _swap_batchnorm(model, {v: k for k, v in GLOBAL.items()})


def agree(world: World, value, device: torch.device):
    """Rank 0's `value` on every rank (a broadcast of a small picklable object)."""
    box = [value if world.rank == 0 else None]
    dist.broadcast_object_list(box, src=0, device=device if device.type == "cuda" else None)
    return box[0]
