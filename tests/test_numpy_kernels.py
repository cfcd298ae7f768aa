"""The NumPy backend's kernels (issue 16): compiled.py's numba twins give kernels.py's bits, so
a run that switches to them part-way trains exactly as one that never does."""

from __future__ import annotations

import numpy as np
import pytest
from test_numpy_model import red_wine

from stackspec.backends.numpy import NumpyModel, kernels

compiled = pytest.importorskip(
    "stackspec.backends.numpy.compiled", reason="numba (the `step` extra) is not installed"
)
DTYPES = (np.float32, np.float64)


def _arrays(dtype, shape=(37, 29), seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal(shape) * 3 + 1).astype(dtype) for _ in range(3)]


def _same(a, b):
    a, b = (a, b) if isinstance(a, tuple) else ((a,), (b,))
    assert len(a) == len(b)
    for u, w in zip(a, b, strict=True):
        assert u.dtype == w.dtype and u.shape == w.shape
        np.testing.assert_array_equal(u, w, strict=True)


@pytest.mark.parametrize("dtype", DTYPES)
def test_batchnorm_passes_give_numpys_bits(dtype):
    x, dy, xc = _arrays(dtype)
    scale, shift, k3 = (v[0] for v in _arrays(dtype, seed=1))
    _same(kernels.center(x), compiled.center(x))
    for s in (shift, None):
        _same(kernels.scale_shift(xc, scale, s), compiled.scale_shift(xc, scale, s))
    _same(kernels.column_sums(dy, xc), compiled.column_sums(dy, xc))
    expected = kernels.batchnorm_grad(dy.copy(), scale, xc, shift, k3)
    _same(expected, compiled.batchnorm_grad(dy.copy(), scale, xc, shift, k3))


@pytest.mark.parametrize("dtype", DTYPES)
def test_bias_relu_gives_numpys_bits(dtype):
    z, dy, _ = _arrays(dtype, (3, 4, 29))
    z[0, 0, :4] = [np.nan, -0.0, 0.0, np.inf]
    bias = _arrays(dtype, (29,))[0]
    y = kernels.bias_relu(z.copy(), bias)
    _same(y, compiled.bias_relu(z.copy(), bias))
    dy[0, 0, :2] = [np.nan, -np.inf]
    _same(kernels.relu_grad(dy.copy(), y), compiled.relu_grad(dy.copy(), y))


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_gives_numpys_bits(dtype):
    x = _arrays(dtype, (8, 5, 7))[0]
    bits = np.random.default_rng(2).integers(0, 2**32, x.size + 1, dtype=np.uint32)
    args = (x, bits, np.uint32(3006477107), dtype(1 / 0.7))
    _same(kernels.dropout(*args), compiled.dropout(*args))


@pytest.mark.parametrize("decay", [1.0, 1 - 1e-3 * 0.01])
@pytest.mark.parametrize("dtype", DTYPES)
def test_adam_gives_numpys_bits(dtype, decay):
    p, g, v = (a.reshape(-1) for a in _arrays(dtype, (1001,)))
    states = [[p.copy(), g, np.zeros_like(p), np.abs(v), np.empty_like(p)] for _ in range(2)]
    consts = [dtype(c) for c in (0.1, 0.999, 1e-3, 1e-7, 3e-4, decay)]
    for _ in range(3):  # m starts at zero: later steps have other values in every buffer
        for k, state in zip((kernels, compiled), states, strict=True):
            k.adam(*state, *consts)
    for u, w in zip(states[0][:4], states[1][:4], strict=True):
        _same(u, w)


def _train(spec, monkeypatch, mode, compile_after=kernels.COMPILE_AFTER, optimizer=None):
    monkeypatch.setenv("STACKSPEC_KERNELS", mode)
    monkeypatch.setattr(kernels, "COMPILE_AFTER", compile_after)
    model = NumpyModel(spec)
    model._begin_training({**spec.ir.train, "optimizer": optimizer or spec.ir.train["optimizer"]})
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 11)).astype(np.float32)
    y = rng.standard_normal(32).astype(np.float32)
    losses = [model._train_step(x, y)[0] for _ in range(6)]
    return model, losses


ADAMW = {"name": "adamw", "lr": 0.01, "weight_decay": 0.1}


@pytest.mark.parametrize("optimizer", [{"name": "adam", "lr": 0.01}, ADAMW])
def test_training_is_the_same_with_either_kernels(monkeypatch, optimizer):
    spec = red_wine(16)
    plain, plain_losses = _train(spec, monkeypatch, "numpy", optimizer=optimizer)
    assert plain._ctx.kernels is kernels
    fast, fast_losses = _train(spec, monkeypatch, "numba", optimizer=optimizer)
    assert fast._ctx.kernels is compiled and fast._optimizer.kernels is compiled
    # The automatic switch part-way through (after 3 steps here) changes nothing either.
    size = fast._flat_params.size
    auto = {"compile_after": 3 * size, "optimizer": optimizer}
    switched, switched_losses = _train(spec, monkeypatch, "auto", **auto)
    assert switched._ctx.kernels is compiled
    assert plain_losses == fast_losses == switched_losses
    for key, value in plain.get_weights().items():
        np.testing.assert_array_equal(value, fast.get_weights()[key], strict=True)
        np.testing.assert_array_equal(value, switched.get_weights()[key], strict=True)


def test_small_runs_never_load_numba(monkeypatch):
    model, _ = _train(red_wine(16), monkeypatch, "auto")
    assert model._ctx.kernels is kernels
    monkeypatch.setenv("STACKSPEC_KERNELS", "numpy")
    assert kernels.compiled() is None
