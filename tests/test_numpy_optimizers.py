"""NumPy optimizers: one and several steps against the written formulas (common brief, which
are PyTorch's), and against torch.optim itself when torch is installed."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import needs_torch

from stackspec.backends.numpy.optimizers import OPTIMIZERS, Optimizer

SETTINGS = [
    {"name": "sgd", "lr": 0.1, "momentum": 0.0, "nesterov": False},
    {"name": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": False},
    {"name": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": True},
    {"name": "adam", "lr": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-7},
    {"name": "adam", "lr": 0.003, "beta1": 0.8, "beta2": 0.99, "eps": 1e-3},
    {"name": "adamw", "lr": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-7, "weight_decay": 0.1},
    {"name": "rmsprop", "lr": 0.01, "rho": 0.9, "eps": 1e-7},
    {"name": "rmsprop", "lr": 0.001, "rho": 0.5, "eps": 1e-2},
]

IDS = [
    f"{s['name']}-" + "-".join(f"{k}={v}" for k, v in s.items() if k != "name") for s in SETTINGS
]


def reference(settings: dict, p0: np.ndarray, gradients: list[np.ndarray]) -> np.ndarray:
    """The update formulas written out plainly, in float64."""
    s = settings
    p = p0.astype(np.float64)
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    for t, g in enumerate(gradients, start=1):
        if s["name"] == "sgd":
            if s["momentum"]:
                m = g.copy() if t == 1 else s["momentum"] * m + g
                d = g + s["momentum"] * m if s["nesterov"] else m
            else:
                d = g
            p = p - s["lr"] * d
        elif s["name"] in ("adam", "adamw"):
            p = p - s["lr"] * s.get("weight_decay", 0.0) * p
            m = s["beta1"] * m + (1 - s["beta1"]) * g
            v = s["beta2"] * v + (1 - s["beta2"]) * g * g
            denom = np.sqrt(v) / math.sqrt(1 - s["beta2"] ** t) + s["eps"]
            p = p - s["lr"] / (1 - s["beta1"] ** t) * m / denom
        else:
            v = s["rho"] * v + (1 - s["rho"]) * g * g
            p = p - s["lr"] * g / (np.sqrt(v) + s["eps"])
    return p


def _run(settings, p0, gradients):
    p, g = p0.copy(), np.zeros_like(p0)
    opt = Optimizer(settings, p, g)
    for grad in gradients:
        np.copyto(g, grad)
        opt.step()
    return p


def _problem(steps: int, dtype=np.float64, seed: int = 0):
    rng = np.random.default_rng(seed)
    p0 = rng.standard_normal(50).astype(dtype)
    grads = [rng.standard_normal(50).astype(dtype) for _ in range(steps)]
    return p0, grads


def test_every_optimizer_has_cases():
    assert {s["name"] for s in SETTINGS} == set(OPTIMIZERS)


@pytest.mark.parametrize("settings", SETTINGS, ids=IDS)
@pytest.mark.parametrize("steps", [1, 5])
def test_steps_match_the_formulas(settings, steps):
    p0, grads = _problem(steps)
    np.testing.assert_allclose(_run(settings, p0, grads), reference(settings, p0, grads), 1e-12)


@pytest.mark.parametrize("settings", SETTINGS, ids=IDS)
def test_float32_in_place_without_upcast(settings):
    p0, grads = _problem(3, np.float32)
    p, g = p0.copy(), np.zeros_like(p0)
    opt = Optimizer(settings, p, g)
    for grad in grads:
        np.copyto(g, grad)
        opt.step()
    buffers = list(opt.state.values())
    assert p.dtype == np.float32 and buffers and all(b.dtype == np.float32 for b in buffers)
    np.testing.assert_allclose(p, reference(settings, p0, grads), rtol=1e-5, atol=1e-6)


def test_a_fresh_optimizer_starts_from_step_one():
    settings = SETTINGS[3]
    p0, grads = _problem(2)
    first = _run(settings, p0, grads[:1])
    second = _run(settings, first, grads[1:])  # new state: bias correction restarts
    np.testing.assert_allclose(second, reference(settings, first, grads[1:]), rtol=1e-12)


def _torch_optimizer(torch, settings, params):
    s = settings
    if s["name"] == "sgd":
        return torch.optim.SGD(params, lr=s["lr"], momentum=s["momentum"], nesterov=s["nesterov"])
    if s["name"] == "adam":
        return torch.optim.Adam(params, lr=s["lr"], betas=(s["beta1"], s["beta2"]), eps=s["eps"])
    if s["name"] == "adamw":
        return torch.optim.AdamW(
            params,
            lr=s["lr"],
            betas=(s["beta1"], s["beta2"]),
            eps=s["eps"],
            weight_decay=s["weight_decay"],
        )
    return torch.optim.RMSprop(params, lr=s["lr"], alpha=s["rho"], eps=s["eps"])


@needs_torch
@pytest.mark.parametrize("settings", SETTINGS, ids=IDS)
def test_steps_match_torch_optim(settings):
    import torch

    p0, grads = _problem(6)
    param = torch.nn.Parameter(torch.tensor(p0))
    opt = _torch_optimizer(torch, settings, [param])
    for g in grads:
        param.grad = torch.tensor(g)
        opt.step()
    np.testing.assert_allclose(_run(settings, p0, grads), param.detach().numpy(), rtol=1e-12)
