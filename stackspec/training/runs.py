"""Where a training run goes (the --out folder, checked before any work; run_folder.py writes
it), a folder of outputs written all or nothing (evaluate --out), and what predict writes
(prediction CSVs)."""

from __future__ import annotations

import errno
import math
import os
import shutil
from pathlib import Path

from ..files import Inputs, cannot_write, probe_folder, reason, sweep_stale, temp_dir
from ..interrupts import deferred


def plan_out_dir(given: str, inputs: Inputs = ()) -> Path:
    """The real folder that `--out GIVEN` names, checked before training, not after: refused if it
    is or holds one of `inputs` (its files would be replaced, or mixed with a run's), or if it
    cannot receive the outputs. Nothing is written."""
    if not given:
        raise cannot_write(given, os.strerror(errno.ENOENT))
    real = os.path.realpath(given)
    if os.path.exists(real) and not os.path.isdir(real):
        raise cannot_write(given, os.strerror(errno.ENOTDIR))
    inside = real.rstrip(os.sep) + os.sep
    for role, path in inputs:
        if path and path != "-":
            p = os.path.realpath(path)
            if p == real or p.startswith(inside):
                raise cannot_write(given, f"it holds {role} {path}")
    existing = next(p for p in (real, *map(str, Path(real).parents)) if os.path.lexists(p))
    if not os.path.isdir(existing):
        raise cannot_write(given, os.strerror(errno.ENOTDIR))
    probe_folder(existing, given)  # DIR itself (files are written in it) or where it will be made
    return Path(real)


def commit_outputs(out: Path, write, shown: str | None = None) -> None:
    """All or nothing: `write(tmp)` fills a temp folder beside DIR; only then is each file moved
    into DIR (or the folder renamed to DIR when DIR is new). A failure leaves DIR as it was and
    is `cannot write SHOWN/FILE: REASON`, naming the output, never the temp folder."""
    shown = str(out) if shown is None else shown
    tmp = None
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        sweep_stale(out.parent)
        # A signal is held while the temp folder is made, moved into DIR or removed (and
        # delivered right after), so DIR ends complete or as it was, and no temp folder stays.
        with deferred():
            tmp = temp_dir(str(out.parent), out.name)
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
    except OSError as e:
        raise cannot_write(_name_in(shown, out, tmp, e.filename), reason(e)) from None
    finally:
        if tmp is not None:
            with deferred():
                shutil.rmtree(tmp, ignore_errors=True)


def _name_in(shown: str, out: Path, tmp: str | None, filename) -> str:
    """`shown/FILE` for an error on a file of the run (in the temp folder or in DIR)."""
    if isinstance(filename, str):
        for folder in (tmp, str(out)):
            if folder and filename.startswith(folder + os.sep):
                return os.path.join(shown, os.path.relpath(filename, folder))
    return shown


def prediction_csv(pred, loss: str, encoding: dict | None = None, keep: dict | None = None) -> str:
    """Header and rows; 9 significant digits give every float32 value back exactly. The labels
    a data section learned (`encoding`) name the classes in `label`; `keep` columns come first,
    as read."""
    width = math.prod(pred.shape[1:])
    return prediction_header(width, loss, keep) + prediction_rows(pred, loss, encoding, keep)


def prediction_header(width: int, loss: str, keep=None) -> str:
    """The header line of predictions with `width` values a row (prediction_csv's)."""
    header = ["prediction"] if width == 1 else [f"prediction_{i}" for i in range(width)]
    if loss == "crossentropy":
        header.append("label")
    return ",".join([*map(_cell, keep or ()), *header]) + "\n"


def prediction_rows(pred, loss: str, encoding: dict | None = None, keep=None) -> str:
    """The rows of prediction_csv, each ending in a line break: the whole file's or a chunk's."""
    labels = (encoding or {}).get("labels")
    flat = pred.reshape(len(pred), -1)
    rows = [[f"{v:.9g}" for v in row] for row in flat.tolist()]
    if loss == "crossentropy":
        for row, label in zip(rows, flat.argmax(axis=1).tolist(), strict=True):
            row.append(_cell(labels[label]) if labels else str(label))
    if keep:
        rows = [[*(_cell(col[i]) for col in keep.values()), *row] for i, row in enumerate(rows)]
    return "".join(",".join(r) + "\n" for r in rows)


def _cell(text: str) -> str:
    """A CSV cell, quoted when it holds a comma, a quote or a line break."""
    if any(c in text for c in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text
