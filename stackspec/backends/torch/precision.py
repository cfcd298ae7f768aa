"""Mixed precision and torch.compile for the torch backend's training steps (docs/scaling.md,
"Mixed precision and compilation").

- Precision "bf16" and "16" run the forward pass under `torch.autocast` on the model's device:
  matrix products and convolutions in bfloat16/float16, the parameters staying float32 (the
  master weights: the optimizer updates them in float32, and the weight file holds them). The
  loss is computed in float32 from the outputs cast back. "16" adds a `torch.amp.GradScaler`
  (float16's small range underflows small gradients; bfloat16 has float32's range and needs
  none); its state (scale, growth tracker) goes into checkpoints with the optimizer's step count.
- `compile` trains through `torch.compile(model.logits)` (mode "default"): the module itself is
  not wrapped, so its state_dict and the weight file keep their names (no `_orig_mod.`).
- Evaluation, validation and predict stay float32 and eager, so their numbers compare across runs.

Each is refused, with what to do instead, where this torch and device cannot do it: checked
before training starts, not at the first step.
"""

from __future__ import annotations

import contextlib
import sys
import warnings

import torch

from ...training.fit_settings import SettingError

DTYPES = {"bf16": torch.bfloat16, "16": torch.float16}
NAMES = {"bf16": "bfloat16", "16": "float16"}


def check_precision(precision: str, device: torch.device) -> None:
    """A SettingError when autocast (and, for "16", the GradScaler) cannot run on `device`."""
    if precision == "32":
        return
    name = NAMES[precision]
    if device.type == "cuda" and precision == "bf16" and not torch.cuda.is_bf16_supported():
        raise SettingError(
            f"precision bf16: this GPU ({torch.cuda.get_device_name(device)}) has no bfloat16 "
            "support; use --precision 16 (float16 with a GradScaler) or 32"
        )
    # An older torch warns and turns autocast off for a dtype it cannot autocast to on a
    # device; a missing device type raises. Either way: refused here, in words.
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with torch.autocast(device.type, dtype=DTYPES[precision]):
                pass
            if precision == "16":
                torch.amp.GradScaler(device.type)
    except (RuntimeError, AttributeError, TypeError) as e:
        caught = [str(e)]
    if caught:
        why = str(caught[0] if isinstance(caught[0], str) else caught[0].message)
        raise SettingError(
            f"precision {precision}: torch {torch.__version__} cannot train in {name} on the "
            f"{device.type} device ({why.splitlines()[0]}); use --precision 32"
        )


def autocast(precision: str, device: torch.device):
    """The context of a training step's forward pass."""
    if precision == "32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=DTYPES[precision])


def grad_scaler(precision: str, device: torch.device):
    """float16's loss scaler, or None. Made once per fit, so float16 on a CPU warns here (the
    checks above run twice in the CLI: before the run folder and in fit)."""
    if precision != "16":
        return None
    if device.type == "cpu":
        # It runs, so it is not refused, but it is no speed-up (benchmarks/README.md).
        warnings.warn(
            "precision 16 on a CPU: float16 arithmetic is emulated there, about 30x slower "
            "than float32 (bf16 is the CPU's fast half precision)",
            stacklevel=2,
        )
    return torch.amp.GradScaler(device.type)


def scaler_state(scaler) -> dict:
    """The GradScaler's state as JSON-able numbers (its settings are torch's defaults)."""
    state = scaler.state_dict()
    return {"scale": float(state["scale"]), "growth_tracker": int(state["_growth_tracker"])}


def load_scaler_state(scaler, state: dict) -> None:
    full = scaler.state_dict()
    full["scale"], full["_growth_tracker"] = float(state["scale"]), int(state["growth_tracker"])
    scaler.load_state_dict(full)


def check_compile(device: torch.device) -> None:
    """A SettingError when torch.compile cannot work here: a Python that dynamo does not
    support, no C++ compiler for inductor on the CPU, no triton on a GPU."""
    import torch._dynamo

    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    if not torch._dynamo.is_dynamo_supported():
        raise SettingError(
            f"--compile: torch {torch.__version__} cannot compile on Python {version}; "
            "train without --compile"
        )
    if device.type == "cuda":
        from torch.utils._triton import has_triton

        if not has_triton():
            raise SettingError(
                "--compile on a CUDA GPU needs triton, which is not installed "
                "(pip install triton, the version your torch names); or train without --compile"
            )
        return
    try:
        from torch._inductor.cpp_builder import get_cpp_compiler

        get_cpp_compiler()
    except ImportError:
        return  # another torch: let torch.compile say what it lacks
    except Exception as e:  # noqa: BLE001 - inductor's InvalidCxxCompiler, or an OSError
        raise SettingError(
            "--compile on the CPU needs a C++ compiler for torch's inductor (g++ or clang++ on "
            f"PATH, or $CXX), and found none ({_first_line(e)}); install one or "
            "train without --compile"
        ) from None


def _first_line(e: BaseException) -> str:
    return (str(e).strip() or type(e).__name__).splitlines()[0]


def compiled(function):
    """`function` (a module's bound method) through torch.compile, mode "default"."""
    return torch.compile(function)
