"""`stackspec tune` with Optuna: the spec's search spaces sampled by a trial, the pruning
callback, the table of trials and the study's plots. docs/tuning.md explains the choices.

Optuna is imported only here and only by `tune` (the `tune` extra); everything else of stackspec
works without it.
"""

from __future__ import annotations

import io
import math

from ..compiler.spaces import Space, value_text
from ..diagnostics import UserError
from ..files import write_bytes
from .callbacks import Callback
from .comparison import better


def require():
    """The optuna module, or the error that says how to install it."""
    try:
        import optuna
    except ImportError:
        raise UserError("`stackspec tune` needs Optuna: pip install 'stackspec[tune]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def suggest(trial, spaces: dict[str, Space]) -> dict[str, str]:
    """One value per space, drawn by the trial's sampler, as `--set` texts."""
    out = {}
    for name, sp in spaces.items():
        if sp.kind == "choice":
            # Optuna stores categorical values; the texts are what the spec wrote.
            x = trial.suggest_categorical(name, [c.text for c in sp.choices])
        elif sp.kind == "int":
            x = trial.suggest_int(name, sp.low, sp.high)
        else:
            x = trial.suggest_float(name, sp.low, sp.high, log=sp.kind == "loguniform")
        out[name] = value_text(x)
    return out


def param_texts(params: dict) -> dict[str, str]:
    """A finished trial's params as `--set` texts (for best.stack and the table)."""
    return {k: value_text(v) for k, v in params.items()}


class Pruning(Callback):
    """Reports the epoch's `metric` to the trial (Optuna's intermediate values, one step per
    epoch) and stops training when the pruner says the trial is worse than the median of the
    others at that epoch. `best` is the trial's value: the best epoch's metric, as the
    early-stopping checkpoint would keep it."""

    def __init__(self, trial, metric: str):
        self.trial, self.metric = trial, metric
        self.values: list[float] = []
        self.pruned_at: int | None = None
        self.missing: list[str] | None = None  # the history's keys when it lacks the metric

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        if self.metric not in logs:
            self.missing = sorted(k for k in logs if k != "lr")
            self.model.stop_training = True
            return
        value = float(logs[self.metric])
        self.values.append(value)
        if not math.isfinite(value):
            return
        self.trial.report(value, epoch + 1)
        if self.trial.should_prune():
            self.pruned_at = epoch + 1
            self.model.stop_training = True

    @property
    def best(self) -> float | None:
        finite = [v for v in self.values if math.isfinite(v)]
        if not finite:
            return None
        return min(finite) if better(self.metric) == "min" else max(finite)


def trials_table(rows: list[tuple[str, str, float | None, dict]], metric: str) -> str:
    """name, state, value, then one column per parameter; rows as given (best first)."""
    names = []
    for _, _, _, params in rows:
        names += [k for k in params if k not in names]
    header = ["run", "state", metric, *names]
    lines = [header]
    for name, state, value, params in rows:
        shown = "-" if value is None or not math.isfinite(value) else f"{value:.4g}"
        lines.append([name, state, shown, *(_short(params.get(k, "-")) for k in names)])
    widths = [max(len(r[i]) for r in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in lines
    )


def _short(text: str) -> str:
    """A float in 4 significant digits for the table (best.stack keeps every digit)."""
    try:
        x = float(text)
    except ValueError:
        return text
    return text if "." not in text and "e" not in text else f"{x:.4g}"


def write_plots(study, out_dir, notes: list[str]) -> list[str]:
    """The study's PNGs in `out_dir` (optimization history, parameter importances, parallel
    coordinates), drawn by optuna.visualization.matplotlib; a plot that cannot be drawn is
    skipped with a note. Importances use PED-ANOVA, which needs only NumPy (fANOVA, Optuna's
    default, needs scikit-learn)."""
    import warnings

    import matplotlib

    matplotlib.use("Agg")  # files only; never a window
    from matplotlib import pyplot as plt
    from optuna.importance import PedAnovaImportanceEvaluator
    from optuna.visualization import matplotlib as vis

    made = []
    plots = {
        "history.png": lambda: vis.plot_optimization_history(study),
        "importances.png": lambda: vis.plot_param_importances(
            study, evaluator=PedAnovaImportanceEvaluator()
        ),
        "parallel.png": lambda: vis.plot_parallel_coordinate(study),
    }
    for name, draw in plots.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Optuna's "experimental" notices
                ax = draw()
                fig = (ax.flat[0] if hasattr(ax, "flat") else ax).figure
                fig.set_size_inches(8, 5)
                fig.tight_layout()
                buf = io.BytesIO()
                fig.savefig(buf, format="png", dpi=100)
            write_bytes(out_dir / name, buf.getvalue())
            made.append(name)
        except Exception as e:  # a plot is a bonus: say why it is missing, keep the study
            notes.append(f"{name} not drawn: {e}")
        finally:
            plt.close("all")
    return made
