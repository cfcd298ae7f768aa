"""Training and its entry points: the --seed range (issue 7, defect 8), non-finite losses and
NumPy's overflow warnings (defect 12, training part). Signals are in test_signals.py."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from .catalogue import CSV, SPEC, Case, weights_bytes

TORCH = importlib.util.find_spec("torch") is not None
BACKENDS = ["numpy"] + (["torch"] if TORCH else [])
TRAIN = ["train", "m.stack", "--data", "d.csv", "--target", "y"]
FILES = {"m.stack": SPEC, "d.csv": CSV}
RUN = ("weights.safetensors", "history.csv", "curves.png", "spec.stack", "run.json")

# One epoch of SGD at lr=1e6: the training steps' losses stay finite, the model they leave
# predicts ~1e32, so the validation loss (squared) overflows float32 in epoch 1.
DIVERGES = SPEC.replace("epochs 2", "epochs 1\n  optimizer sgd lr=1e6")
# Features near the float32 limit: the first training batch's loss is already infinite.
HUGE = "a,b,c,y\n" + "".join(f"{i}e37,{i % 3},{-i},{i * 0.5}\n" for i in range(1, 13))
VAL_INF = (
    "error: training failed: the validation loss became infinite in epoch 1; stopped, keeping "
    "the initial weights\n"
)
# Near float32's largest value: the initial weights' outputs overflow to -inf.
EXTREME = "a,b,c,y\n3e38,3e38,3e38,1\n1,2,3,4\n"


def per_backend(name: str, args: list[str], files: dict, says: str, **kw) -> list[Case]:
    """The case for each backend; golden output for numpy, `says` for torch (no golden file, so
    the catalogue's golden set does not depend on whether torch is installed)."""
    cases = [Case(f"{name}_numpy", [*args, "--backend", "numpy"], files, **kw)]
    if TORCH:
        torch_args = [*args, "--backend", "torch"]
        cases.append(Case(f"{name}_torch", torch_args, files, golden=False, contains=(says,), **kw))
    return cases


def keeps_initial_weights(spec: str):
    """A check: the run's weights are the initial weights (seed 0), the history has no epoch."""

    def check(tmp: Path, proc) -> None:
        import stackspec
        from stackspec.training.weights import load_weights

        ir = stackspec.parse(spec).ir
        saved, _ = load_weights(tmp / "run" / "weights.safetensors", ir)
        initial = stackspec.parse(spec).compile("numpy", seed=0).get_weights()
        assert all(np.array_equal(saved[k], initial[k]) for k in initial), "weights changed"
        assert sorted(p.name for p in (tmp / "run").iterdir()) == sorted(RUN)
        assert (tmp / "run" / "history.csv").read_text() == "epoch,loss,val_loss\n"

    return check


CASES = [
    # --- defect 8: --seed has the spec's range [0, 2^63-1]; outside it is a usage error --------
    Case("train_seed_2_64", [*TRAIN, "--seed", "18446744073709551616"], FILES, exit=2),
    Case("train_seed_2_63", [*TRAIN, "--seed", "9223372036854775808"], FILES, exit=2),
    Case("train_seed_negative", [*TRAIN, "--seed", "-1"], FILES, exit=2),
    *(
        Case(
            f"train_seed_max_{b}",
            [*TRAIN, "--backend", b, "--seed", "9223372036854775807", "--out", "run"],
            FILES,
            exit=0,
            golden=False,
            contains=("wrote run/",),
            creates=("run",),
        )
        for b in BACKENDS
    ),
    # The spec's own seed setting has the same range (E2xx from the argument table).
    Case(
        "train_seed_in_spec_too_large",
        [*TRAIN, "--out", "run"],
        {**FILES, "m.stack": SPEC.replace("batch 4", "batch 4\n  seed 9223372036854775808")},
    ),
    # --- defect 12: a non-finite validation loss is a failed training (the NaN rule) ---------
    *per_backend(
        "train_val_loss_inf",
        [*TRAIN, "--out", "run"],
        {**FILES, "m.stack": DIVERGES},
        VAL_INF,
        exit=1,
        creates=("run",),
        check=keeps_initial_weights(DIVERGES),
    ),
    # Training on ordinary data, validating on data that overflows the model's outputs.
    *per_backend(
        "train_valid_csv_overflows",
        [*TRAIN, "--valid", "v.csv", "--out", "run"],
        {**FILES, "v.csv": HUGE},
        VAL_INF,
        exit=1,
        creates=("run",),
        check=keeps_initial_weights(SPEC),
    ),
    # Training data that overflows: the training loss rule, and no raw RuntimeWarning.
    *per_backend(
        "train_huge_features",
        [*TRAIN, "--out", "run"],
        {**FILES, "d.csv": HUGE},
        "error: training failed: the training loss became infinite in epoch 1, batch 1; "
        "stopped, keeping the initial weights\n",
        exit=1,
        creates=("run",),
    ),
    # evaluate and predict report overflow as one warning line, exit 0 (the numbers are real).
    *per_backend(
        "train_evaluate_overflow",
        ["evaluate", "m.stack", "--weights", "w.st", "--data", "d.csv", "--target", "y"],
        {"m.stack": SPEC, "d.csv": EXTREME, "w.st": weights_bytes()},
        "warning: loss is not finite: the values overflow float32",
        exit=0,
    ),
    *per_backend(
        "train_predict_overflow",
        ["predict", "m.stack", "--weights", "w.st", "--data", "d.csv", "--target", "y"],
        {"m.stack": SPEC, "d.csv": EXTREME, "w.st": weights_bytes()},
        "warning: 1 of 2 predictions are not finite: the values overflow float32",
        exit=0,
    ),
    # The good case beside them: the same spec trains at a sane rate and exits 0.
    Case(
        "train_good_sgd",
        [*TRAIN, "--out", "run"],
        {**FILES, "m.stack": SPEC.replace("epochs 2", "epochs 2\n  optimizer sgd lr=0.001")},
        exit=0,
        golden=False,
        contains=("wrote run/", "done: 2 epochs"),
        creates=("run",),
    ),
]
