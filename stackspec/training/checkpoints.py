"""Checkpoints: the training loop's state (loop_state.py) in a folder, written atomically.

`Checkpoint(folder, every=1, keep=3)` is the callback (the CLI adds it for the train section's
`checkpoint every=N keep=K`): after every `every`-th epoch it writes `folder/epoch-NNNN/`:

    weights.safetensors    the weights, as a weight file (§8): predict and evaluate read it
    optimizer.safetensors  the optimizer's buffers, `{weight key}.{buffer}` (float32)
    best.safetensors       the best epoch's weights, when early stopping will restore them
    state.json             epoch, step count, both RNG states (the dropout RNG of every
                           rank in data-parallel training), early stopping, schedule,
                           history rows, the IR hash

and keeps the newest `keep`. A checkpoint is built in a temp folder beside its final name with
every file fsynced, then renamed: a folder named epoch-NNNN is always complete, whatever stops
the process (Ctrl-C, SIGKILL, power loss). Older ones are removed only after the new one is in
place, each renamed away first so that none is ever half removed under its real name.

The files are written by a thread while the next epoch trains. The training thread copies only
what the next step would change, the optimizer's buffers, straight into their file's image (a
page-aligned buffer kept from one checkpoint to the next, file_image.py); the weights are the
loop's epoch-end snapshot, which nothing changes, and the writer thread copies them into theirs.
The images are written with O_DIRECT (no copy into the page cache) and fsynced; the next
checkpoint, and the end of training, wait for the one before. The bytes are exactly those of
weights.encode. `read_checkpoint` and `latest` read them back.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
from collections import defaultdict
from pathlib import Path

import numpy as np

from ..files import sweep_stale, temp_dir
from .callbacks import Callback
from .file_image import FileImage
from .loop_state import CheckpointError
from .weights import encoded, load_weights, weight_file

FORMAT, VERSION = "stackspec-checkpoint", 1
NAME = re.compile(r"epoch-(\d{4,})")
OPTIMIZER_META = {"format": "stackspec-optimizer", "version": "1"}


def folder_name(epoch: int) -> str:
    return f"epoch-{epoch:04d}"


class Checkpoint(Callback):
    """Write the training state to `folder/epoch-NNNN/` every `every` epochs, keeping the newest
    `keep`; `Model.fit(resume_from=...)` and `stackspec train --resume` continue from one."""

    def __init__(self, folder, every: int = 1, keep: int = 3):
        for name, value in (("every", every), ("keep", keep)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        # A path, or a callable giving it when the first checkpoint is written (the CLI's run
        # folder is known only once training starts).
        self._folder, self.every, self.keep = folder, every, keep
        self._writer: threading.Thread | None = None
        self._failure: BaseException | None = None
        self.written: list[Path] = []  # the checkpoints written by this callback, in order
        # Each file's bytes, kept from one checkpoint to the next (file_image.py)
        self._images: dict[str, FileImage] = defaultdict(FileImage)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        from .loop_state import export_state

        if (epoch + 1) % self.every:
            return
        self.wait()  # the images are reused: the previous checkpoint must be written first
        loop = self.model._fit_loop
        state = export_state(loop, loop.history, epoch + 1, copy=False)
        files = checkpoint_files(self.model.ir, state, self.model.encoding)
        # The optimizer's buffers are the live ones: into their image now, before the next step
        # changes them. The rest are copies nothing changes (the weights are the loop's
        # epoch-end snapshot): the writer thread copies those, off the training thread.
        self._images["optimizer.safetensors"].fill(files.pop("optimizer.safetensors"))
        self._writer = threading.Thread(
            target=self._write, args=(state["epoch"], files), name="stackspec-checkpoint"
        )
        self._writer.start()

    def on_train_end(self, logs: dict | None = None) -> None:
        self.wait()
        self._images.clear()  # needed only while training (the size of a checkpoint)

    @property
    def folder(self) -> Path:
        return Path(self._folder() if callable(self._folder) else self._folder)

    def wait(self) -> None:
        """Wait for the checkpoint being written; its failure is raised here."""
        if self._writer is not None:
            self._writer.join()
            self._writer = None
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure

    def _write(self, epoch: int, files: dict[str, list]) -> None:
        try:
            for name, pieces in files.items():
                self._images[name].fill(pieces)
            images = {name: self._images[name] for name in (*files, "optimizer.safetensors")}
            self.written.append(write_files(self.folder, epoch, images, self.keep))
        except BaseException as e:  # reported by the next wait(), in the training thread
            self._failure = e


def checkpoint_files(ir, state: dict, encoding=None) -> dict[str, list]:
    """The files of a checkpoint of `state` (loop_state.export_state), name -> their bytes in
    pieces (the tensors' own memory, not copied)."""
    files = {"weights.safetensors": encoded(*weight_file(ir, state["weights"], encoding))}
    if state["best_weights"] is not None:
        files["best.safetensors"] = encoded(*weight_file(ir, state["best_weights"], encoding))
    tensors, scalars = state["optimizer"]
    files["optimizer.safetensors"] = encoded(tensors, OPTIMIZER_META)
    files["state.json"] = [json.dumps(_state_json(ir, state, scalars)).encode()]
    return files


def write_checkpoint(folder, ir, state: dict, encoding=None, keep: int | None = None) -> Path:
    """Write `state` (loop_state.export_state) as `folder/epoch-NNNN/`, atomically; then remove
    all but the newest `keep` checkpoints. Returns the new checkpoint's path."""
    files = checkpoint_files(ir, state, encoding)
    images = {name: FileImage.of(pieces) for name, pieces in files.items()}
    return write_files(folder, state["epoch"], images, keep)


def write_files(folder, epoch: int, images: dict[str, FileImage], keep: int | None) -> Path:
    """write_checkpoint's work, from the files' images."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    sweep_stale(folder)  # the temp folders of a killed run
    final = folder / folder_name(epoch)
    tmp = Path(temp_dir(str(folder), final.name))
    try:
        for name, image in images.items():
            image.write(tmp / name)  # fsynced
        _fsync_dir(tmp)
        if final.exists():  # a run continued from an older checkpoint passes this epoch again
            os.rename(final, temp_dir(str(folder), final.name) + ".old")
        os.rename(tmp, final)
        tmp = None
        _fsync_dir(folder)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    if keep is not None:
        for old in checkpoints(folder)[:-keep]:
            gone = temp_dir(str(folder), old.name)
            os.replace(old, os.path.join(gone, old.name))  # out of sight first, then removed
            shutil.rmtree(gone, ignore_errors=True)
    sweep_stale(folder)
    return final


def _state_json(ir, state: dict, scalars: dict) -> dict:
    return {
        "format": FORMAT,
        "version": VERSION,
        "epoch": state["epoch"],
        "ir_hash": ir.model_hash(),
        "optimizer": scalars,
        "rng": state["rng"],
        "early_stop": state["early_stop"],
        "best": None if state["best_weights"] is None else "best.safetensors",
        "schedule": state["schedule"],
        "history": state["history"],
    }


def _fsync_dir(path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def checkpoints(folder) -> list[Path]:
    """The checkpoints in `folder`, oldest first (by epoch)."""
    try:
        names = [n for n in os.listdir(folder) if NAME.fullmatch(n)]
    except OSError:
        return []
    paths = [Path(folder) / n for n in names if (Path(folder) / n / "state.json").is_file()]
    return sorted(paths, key=lambda p: int(NAME.fullmatch(p.name)[1]))


def latest(path) -> Path | None:
    """The newest checkpoint: `path` itself when it is one, else the newest in `path` or in
    `path/checkpoints` (a run folder). None when there is none."""
    path = Path(path)
    if (path / "state.json").is_file():
        return path
    found = checkpoints(path) or checkpoints(path / "checkpoints")
    return found[-1] if found else None


def read_checkpoint(path, ir) -> dict:
    """The loop state of checkpoint folder `path` (loop_state.py's dict), checked against `ir`;
    a UserError naming the file when it cannot be used."""
    path = Path(path)
    name = path / "state.json"
    try:
        meta = json.loads(name.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise CheckpointError(f"cannot read checkpoint {name}: {e}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{name} is not a stackspec checkpoint")
    if meta.get("version") != VERSION:
        raise CheckpointError(
            f"{name}: checkpoint version {meta.get('version')!r} is not supported"
        )
    if meta["ir_hash"] != ir.model_hash():
        raise CheckpointError(
            f"checkpoint {path} was written for another model (the IR hash differs)"
        )
    weights, _ = load_weights(path / "weights.safetensors", ir)
    best = None
    if meta["best"] is not None:
        best, _ = load_weights(path / meta["best"], ir)
    return {
        "epoch": int(meta["epoch"]),
        "weights": weights,
        "optimizer": (_read_tensors(path / "optimizer.safetensors"), meta["optimizer"]),
        "rng": meta["rng"],
        "early_stop": meta["early_stop"],
        "best_weights": best,
        "schedule": meta["schedule"],
        "history": meta["history"],
    }


def _read_tensors(path: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load

    try:
        return dict(load(path.read_bytes()))
    except Exception as e:  # noqa: BLE001 - any library failure is a damaged file
        raise CheckpointError(f"cannot read {path}: {e}") from None
