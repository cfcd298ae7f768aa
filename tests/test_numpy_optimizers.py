"""NumPy optimizers: one and several steps against the written formulas (common brief, which
are PyTorch's, except Adam's eps, which is Keras's: LANGUAGE.md §6), and against torch.optim
itself when torch is installed (Adam with the per-step eps the torch backend sets)."""

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
            # Keras 3's Adam.update_step: alpha = lr * sqrt(1 - b2^t) / (1 - b1^t),
            # p -= m * alpha / (sqrt(v) + eps).
            alpha = s["lr"] * math.sqrt(1 - s["beta2"] ** t) / (1 - s["beta1"] ** t)
            p = p - m * alpha / (np.sqrt(v) + s["eps"])
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
    for t, g in enumerate(grads, start=1):
        param.grad = torch.tensor(g)
        if "beta2" in settings:  # Keras's eps in torch's formula, as the torch backend sets it
            opt.param_groups[0]["eps"] = settings["eps"] / math.sqrt(1 - settings["beta2"] ** t)
        opt.step()
    np.testing.assert_allclose(_run(settings, p0, grads), param.detach().numpy(), rtol=1e-12)


def test_adam_eps_is_where_keras_puts_it():
    """While the gradients are float32 noise (~1e-7), Keras's eps keeps the steps small; torch's
    placement (eps * sqrt(1 - b2^t) in Keras's terms) would move the weights by ~lr."""
    settings = {"name": "adam", "lr": 0.001, "beta1": 0.9, "beta2": 0.999, "eps": 1e-7}
    p0 = np.zeros(1000)
    rng = np.random.default_rng(1)
    noise = [rng.standard_normal(1000) * 1e-7 for _ in range(5)]
    moved = np.sqrt(np.mean(_run(settings, p0, noise) ** 2)) / settings["lr"]
    assert moved < 0.2  # 0.12 x lr over 5 steps; torch's placement: 1.2 x lr
    np.testing.assert_allclose(_run(settings, p0, noise), reference(settings, p0, noise), 1e-12)


def test_clip_norm_and_value_follow_torch_rules():
    from stackspec.backends.numpy.optimizers import clip_gradients

    g = np.array([3.0, 4.0], np.float32)  # norm 5
    clip_gradients(g, {"norm": 1.0})
    np.testing.assert_allclose(g, np.array([3.0, 4.0]) / (5 + 1e-6), rtol=1e-7)
    g = np.array([0.3, 0.4], np.float32)  # norm 0.5: below the bound, untouched
    clip_gradients(g, {"norm": 1.0})
    assert g.tolist() == np.array([0.3, 0.4], np.float32).tolist()
    g = np.array([-2.0, 0.1, 0.7], np.float32)
    clip_gradients(g, {"value": 0.5})
    assert g.tolist() == np.array([-0.5, 0.1, 0.5], np.float32).tolist()


@needs_torch
@pytest.mark.parametrize("clip", [{"norm": 0.7}, {"value": 0.05}])
def test_clipping_matches_torch(clip):
    import torch

    from stackspec.backends.numpy.optimizers import clip_gradients

    rng = np.random.default_rng(2)
    grads = [rng.standard_normal(n).astype(np.float32) * 0.3 for n in (30, 7, 12)]
    params = [torch.nn.Parameter(torch.zeros(len(g))) for g in grads]
    for p, g in zip(params, grads, strict=True):
        p.grad = torch.tensor(g)
    if "norm" in clip:
        torch.nn.utils.clip_grad_norm_(params, clip["norm"])
    else:
        torch.nn.utils.clip_grad_value_(params, clip["value"])
    flat = np.concatenate(grads)
    clip_gradients(flat, clip)
    expected = np.concatenate([p.grad.numpy() for p in params])
    np.testing.assert_allclose(flat, expected, rtol=1e-6)
