"""`stackspec compare`, and the table that `tune` and `sweep` print: several run folders read
back (run.json and history.csv, as run_folder.py writes them), side by side.

A run is labelled by its spec's name and its `--set` overrides, the two things that tell runs
of one study apart. Wall time is run.json's ended minus started (whole seconds). The plot
overlays every run's curves, one colour per run: training solid, validation dashed.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import dataclass
from datetime import datetime

from ..diagnostics import UserError
from .curves import plain

LOWER_IS_BETTER = ("loss", "mae", "mse", "rmse")


@dataclass
class Run:
    """One run folder, read: its path as given, run.json, and history.csv as lists by column."""

    path: str
    record: dict
    history: dict[str, list[float]]

    @property
    def label(self) -> str:
        spec = os.path.basename(str((self.record.get("spec") or {}).get("path") or "?"))
        spec = spec[: -len(".stack")] if spec.endswith(".stack") else spec
        sets = self.record.get("overrides") or []
        return " ".join([spec, *sets])

    @property
    def epochs(self) -> int:
        return len(self.history.get("loss", []))

    @property
    def seconds(self) -> float | None:
        try:
            start, end = (_time(self.record[k]) for k in ("started", "ended"))
        except (KeyError, TypeError, ValueError):
            return None
        return (end - start).total_seconds()


def _time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")


def read_run(path: str) -> Run:
    """A run folder's run.json and history.csv; a UserError names what is missing."""
    try:
        with open(os.path.join(path, "run.json"), encoding="utf-8") as f:
            record = json.load(f)
        with open(os.path.join(path, "history.csv"), encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f))
    except FileNotFoundError as e:
        raise UserError(f"{path}: not a run folder (no {os.path.basename(e.filename)})") from None
    except (OSError, ValueError) as e:
        raise UserError(f"{path}: cannot read the run: {e}") from None
    if not isinstance(record, dict) or not rows:
        raise UserError(f"{path}: not a run folder (run.json or history.csv is not a run's)")
    header, body = rows[0], rows[1:]
    history = {key: [_number(r[i]) for r in body if len(r) > i] for i, key in enumerate(header)}
    history.pop("epoch", None)
    return Run(path, record, history)


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def better(metric: str) -> str:
    """ "min" or "max": which way a metric (or its val_ form) improves."""
    return "min" if metric.removeprefix("val_") in LOWER_IS_BETTER else "max"


def best_of(values: list[float], metric: str) -> tuple[float, int] | None:
    """The best finite value and its epoch (1-based), or None."""
    pairs = [(v, i + 1) for i, v in enumerate(values) if math.isfinite(v)]
    if not pairs:
        return None
    pick = min if better(metric) == "min" else max
    return pick(pairs, key=lambda p: p[0])


def default_metric(runs: list[Run]) -> str | None:
    """The first metric (not loss, not lr) that a run's history has."""
    for run in runs:
        for key in run.history:
            if key not in ("loss", "lr") and not key.startswith("val_"):
                return key
    return None


def _fmt(x: float | None) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{x:.4g}"


def _best_cell(run: Run, key: str) -> str:
    found = best_of(run.history.get(key, []), key)
    return "-" if found is None else f"{_fmt(found[0])} ({found[1]})"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def table(runs: list[Run], metric: str | None = None, names: list[str] | None = None) -> str:
    """The comparison table: one row per run; best values carry their epoch in parentheses.
    `names` replaces the first column (the run folders as given)."""
    keys = ["loss", "val_loss"]
    if metric:
        keys += [metric, f"val_{metric}"] if not metric.startswith("val_") else [metric]
    keys = [k for k in keys if any(k in r.history for r in runs)]
    best = [k for k in keys if k.startswith("val_")] or keys[:1]
    header = ["run", "label", "status", "epochs"]
    header += [f"best {k}" for k in best]
    header += [f"final {k}" for k in keys] + ["time"]
    rows = [header]
    for i, run in enumerate(runs):
        row = [names[i] if names else run.path, run.label, str(run.record.get("status", "?"))]
        row.append(str(run.epochs))
        row += [_best_cell(run, k) for k in best]
        row += [_fmt(run.history[k][-1]) if run.history.get(k) else "-" for k in keys]
        row.append(_duration(run.seconds))
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def render_png(runs: list[Run], metric: str | None = None, title: str = "") -> bytes:
    """Loss and val_loss of every run in one panel, the metric (and val_) in a second."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    from .curves import wide_range

    shown = [("loss", "loss")]
    if metric and any(metric.removeprefix("val_") in r.history for r in runs):
        shown.append((metric.removeprefix("val_"), metric.removeprefix("val_")))
    fig = Figure(figsize=(6.2 * len(shown) + 0.6, 4.6), dpi=100)
    FigureCanvasAgg(fig)
    for n, (name, key) in enumerate(shown):
        ax = fig.add_subplot(1, len(shown), n + 1)
        values = []
        for i, run in enumerate(runs):
            color = f"C{i % 10}"
            for k, style, role in ((key, "-", "training"), (f"val_{key}", "--", "validation")):
                ys = run.history.get(k)
                if ys:
                    xs = range(1, len(ys) + 1)
                    ax.plot(xs, ys, style, color=color, label=plain(f"{run.label} ({role})"))
                    values += ys
        if wide_range(values):
            ax.set_yscale("log")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(plain(name))
        ax.grid(True, alpha=0.3)
        if values:
            ax.legend(fontsize=7, loc="best")
    fig.suptitle(plain(title or "compared runs: training solid, validation dashed"))
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
