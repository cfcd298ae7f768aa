"""What a training run leaves behind: the --out folder (all or nothing) and prediction CSVs."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from .diagnostics import UserError
from .interrupts import deferred


def check_out_dir(out):
    """Fail before training, not after, when DIR cannot receive the outputs."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} exists and is not a directory")
    parent = next((p for p in (out, *out.parents) if p.exists()), None)
    if parent is not None and not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"--out {out}: cannot write in {parent}")


def commit_outputs(out, write) -> None:
    """All or nothing: `write(tmp)` fills a temp folder beside DIR; only then is each file moved
    into DIR (or the folder renamed to DIR when DIR is new). A failure leaves DIR as it was."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = None
    try:
        # A signal is held while the temp folder is made, moved into DIR or removed (and
        # delivered right after), so DIR ends complete or as it was, and no temp folder stays.
        with deferred():
            tmp = tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes 0700; DIR gets a normal folder's mode
        write(tmp)
        with deferred():
            if not out.exists():
                os.replace(tmp, out)
                return
            for name in sorted(os.listdir(tmp)):
                os.replace(os.path.join(tmp, name), out / name)
    finally:
        if tmp is not None:
            with deferred():
                shutil.rmtree(tmp, ignore_errors=True)


def write_run(tmp, spec, model, history, sets) -> None:
    from .curves import plot_curves
    from .files import atomic_write_text
    from .weights import save_weights

    save_weights(tmp / "weights.safetensors", spec.ir, model.get_weights())
    atomic_write_text(tmp / "history.csv", history.to_csv())
    title = f"{Path(spec.file).name}: learning curves ({model.backend} backend)"
    plot_curves(history, tmp / "curves.png", title, f"loss ({spec.ir.train['loss']['name']})")
    source = spec.source
    if sets:  # the weights fit the spec only with the same overrides; say so in the copy
        source = f"# trained with: {' '.join('--set ' + v for v in sets)}\n" + source
    atomic_write_text(tmp / "spec.stack", source)


def prediction_csv(pred, loss: str) -> str:
    """Header and rows; 9 significant digits give every float32 value back exactly."""
    flat = pred.reshape(len(pred), -1)
    k = flat.shape[1]
    header = ["prediction"] if k == 1 else [f"prediction_{i}" for i in range(k)]
    rows = [[f"{v:.9g}" for v in row] for row in flat.tolist()]
    if loss == "crossentropy":
        header.append("label")
        for row, label in zip(rows, flat.argmax(axis=1).tolist(), strict=True):
            row.append(str(label))
    return "\n".join(",".join(r) for r in [header, *rows]) + "\n"
