"""Shared test fixtures and markers."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
DATA = ROOT / "data" / "red-wine.csv"
HAS_TORCH = importlib.util.find_spec("torch") is not None

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
