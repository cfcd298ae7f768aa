"""Shared test fixtures and markers."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
DATA = ROOT / "data" / "red-wine.csv"
HAS_TORCH = importlib.util.find_spec("torch") is not None

# Between them, every layer kind of the registry, with non-default arguments (backend tests).
EVERY_LAYER = """
input 2x6x6
conv2d 3 relu kernel=2 padding=same
batchnorm
residual {
  conv2d 3 elu padding=1 bias=false
  batchnorm momentum=0.9 eps=0.00001 affine=false
  residual {
    relu
  }
}
maxpool2d 2 stride=1 padding=1
avgpool2d 3 stride=2 padding=1
layernorm
elu alpha=0.5
globalavgpool
dense 8 gelu init=he_normal
dropout 0.5
dense 8 silu
gelu | silu | tanh
leaky_relu slope=0.2
softplus
dense 3 tanh
selu | sigmoid | linear | softmax
"""
FLAT = "input 2x3x3\nconv2d 2 kernel=2 stride=2 padding=1\nflatten\ndense 2 bias=false\n"


def deepest(depth: int | None = None) -> str:
    """Residuals nested to the deepest --max-depth allows (limits.DEPTH_CEILING): every backend
    and every emitted source must run it."""
    from stackspec.limits import DEPTH_CEILING

    d = DEPTH_CEILING if depth is None else depth
    nested = "residual {\n" * d + "dense 2 tanh\n" + "}\n" * d
    return "input 2\n" + nested + "dense 1\ntrain {\n  epochs 1\n  batch 4\n}\n"


needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")


def cuda_available() -> bool:
    if not HAS_TORCH:
        return False
    import torch

    return torch.cuda.is_available()


needs_cuda = pytest.mark.skipif(not cuda_available(), reason="no CUDA GPU on this machine")


def central_difference(f, flat, i: int, eps: float = 1e-6) -> float:
    """(f() at flat[i]+eps - f() at flat[i]-eps) / 2eps, restoring flat[i] (perturbed in place)."""
    old = flat[i]
    flat[i] = old + eps
    plus = f()
    flat[i] = old - eps
    minus = f()
    flat[i] = old
    return (plus - minus) / (2 * eps)


@pytest.fixture
def write_spec(tmp_path):
    """write_spec(text, name="m.stack") -> Path of a spec file in a temp folder."""

    def write(text: str, name: str = "m.stack") -> Path:
        p = tmp_path / name
        p.write_text(text)
        return p

    return write
