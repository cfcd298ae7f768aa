"""NumPy layers, driven by the registry: every kind has cases; each case gets its IR output
shape checked and a float64 central-difference check of the input and parameter gradients.
Forward values are checked against direct (loop) references below."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import EXAMPLES, central_difference, dims, example_inputs, takes_ids

import stackspec
from stackspec.backends.numpy import LAYERS as NUMPY_LAYERS
from stackspec.backends.numpy import activations
from stackspec.backends.numpy.activations import SELU_ALPHA, SELU_SCALE
from stackspec.backends.numpy.layers import INFERENCE, Context, build
from stackspec.layers import ACTIVATIONS, LAYERS, STRUCTURAL
from stackspec.layers.init import initial_weights

BATCH = 3

# The registry's examples; dense with every activation of its `activation` argument; and
# residual, which is structural (no registry entry, so no examples).
CASES = [
    *((op, dims(shape), call) for op, call, shape in EXAMPLES),
    *(("dense", "4", f"dense 3 {act}") for act in ACTIVATIONS),
    ("residual", "5", "residual {\n  dense 5 relu\n  dense 5\n}"),
    ("residual", "2x4x4", "residual {\n  conv2d 2 padding=same\n  batchnorm\n  relu\n}"),
    ("residual", "4", "residual {\n  layernorm\n  dropout 0.3\n}"),
    ("concat", "5", "concat {\n  branch { dense 3 tanh }\n  branch { }\n  branch { dense 2 }\n}"),
    (
        "concat",
        "2x4x4",
        "concat {\n  branch { conv2d 3 relu padding=same }\n"
        "  branch { residual { conv2d 2 padding=same } }\n}",
    ),
    ("add", "4", "add {\n  branch { dense 4 relu }\n  branch { }\n  branch { layernorm }\n}"),
    (
        "add",
        "3",
        "add {\n  branch { concat {\n branch { dense 2 }\n branch { dense 2 sigmoid }\n } }\n"
        "  branch { dense 4 tanh }\n}",
    ),
]
ALL_CASES = [pytest.param(*case, id=f"{case[2]}@{case[1]}") for case in CASES]


def make(shape: str, line: str, dtype=np.float64, seed: int = 0):
    """(ir, ctx, forward) of a small spec, params in `dtype`, biases and scales perturbed so
    the gradient check sees generic values."""
    ir = stackspec.parse(f"input {shape}\n{line}\n").ir
    rng = np.random.default_rng(seed + 1)
    params = {}
    for key, w in initial_weights(ir, seed).items():
        value = w.astype(dtype)
        if key.endswith(("running_var", ".var")):
            value = rng.uniform(0.5, 1.5, value.shape).astype(dtype)
        elif key.endswith(("bias", "running_mean", ".mean")) or ir.tensors()[key].init == "ones":
            value = value + rng.normal(0, 0.3, value.shape).astype(dtype)
        params[key] = value
    ctx = Context(params)
    return ir, ctx, build(ir.nodes, ctx)


def numeric_grad(f, arr: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar f() with respect to arr, perturbed in place."""
    flat = arr.reshape(-1)  # a view: perturbing it perturbs arr
    assert np.shares_memory(flat, arr)
    return np.array([central_difference(f, flat, i, eps) for i in range(flat.size)]).reshape(
        arr.shape
    )


def assert_grad_close(analytic, numeric, what: str, rtol: float = 1e-6):
    scale = max(float(np.abs(numeric).max()), 1e-2)
    err = float(np.abs(analytic - numeric).max())
    assert err <= rtol * scale, f"{what}: max error {err:.3g} (scale {scale:.3g})"


def check_gradients(ir, ctx, forward, x, seed: int = 0):
    """Gradient check of sum(forward(x) * r) in training mode; a fixed dropout mask per call."""
    r = np.random.default_rng(seed + 7).standard_normal((x.shape[0], *ir.output_shape))

    def run(x):
        ctx.rng = np.random.default_rng(123)
        return forward(x, True)

    def objective():
        return float(np.sum(run(x)[0] * r))

    y, backprop = run(x)
    dx = backprop(r.copy())
    grads = {k: g.copy() for k, g in ctx.grads.items()}
    trainable = {f"{n.id}.{k}" for n in ir.walk() for k in n.weights}
    assert set(grads) == trainable
    if takes_ids(ir):  # discrete ids: no input gradient, and no nudging them
        assert not dx.any()
    else:
        assert_grad_close(dx, numeric_grad(objective, x), "input gradient")
    for key, g in grads.items():
        assert_grad_close(g, numeric_grad(objective, ctx.params[key]), key)


def test_every_registry_kind_has_a_numpy_function():
    kinds = {*LAYERS, *STRUCTURAL}
    assert kinds <= set(NUMPY_LAYERS), f"missing: {kinds - set(NUMPY_LAYERS)}"
    for kind in kinds - set(ACTIVATIONS):  # activations share one layer function
        assert NUMPY_LAYERS[kind].__name__ == kind
    # ... and an evaluation function `{kind}_values` (emitted source copies it).
    assert set(LAYERS) <= set(INFERENCE), f"no evaluation: {set(LAYERS) - set(INFERENCE)}"
    for kind in LAYERS:
        assert INFERENCE[kind].__name__ == f"{kind}_values"


@pytest.mark.parametrize("kind,shape,line", ALL_CASES)
def test_output_shape_and_dtype(kind, shape, line):
    ir, ctx, forward = make(shape, line, dtype=np.float32)
    x = example_inputs(ir, BATCH, seed=0)
    for training in (True, False):
        y, backprop = forward(x, training)
        assert y.shape == (BATCH, *ir.output_shape)
        assert y.dtype == np.float32
    y, backprop = forward(x, True)
    dx = backprop(np.ones_like(y))
    assert dx.shape == x.shape and dx.dtype == np.float32
    assert all(g.dtype == np.float32 for g in ctx.grads.values())


@pytest.mark.parametrize("kind,shape,line", ALL_CASES)
def test_gradients(kind, shape, line):
    ir, ctx, forward = make(shape, line)
    x = example_inputs(ir, BATCH, seed=1, dtype=np.float64)
    check_gradients(ir, ctx, forward, x)


# --- forward values against direct references --------------------------------------------


def _rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def test_dense_values():
    ir, ctx, forward = make("5", "dense 4 relu")
    x = _rand(3, 5)
    w, b = ctx.params["0.weight"], ctx.params["0.bias"]
    np.testing.assert_allclose(forward(x, False)[0], np.maximum(x @ w.T + b, 0), rtol=1e-12)


def _naive_conv(x, w, b, stride, pads):
    top, bottom, left, right = pads
    xp = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    n, _, hp, wp = xp.shape
    f, _, kh, kw = w.shape
    ho, wo = (hp - kh) // stride[0] + 1, (wp - kw) // stride[1] + 1
    out = np.zeros((n, f, ho, wo))
    for i in range(ho):
        for j in range(wo):
            patch = xp[:, :, i * stride[0] : i * stride[0] + kh, j * stride[1] : j * stride[1] + kw]
            out[:, :, i, j] = np.einsum("nchw,fchw->nf", patch, w) + (0 if b is None else b)
    return out


@pytest.mark.parametrize(
    "shape,line,pads",
    [
        ("2x6x5", "conv2d 3 kernel=2 padding=same", (0, 1, 0, 1)),
        ("2x6x5", "conv2d 3 kernel=3 padding=same", (1, 1, 1, 1)),
        ("2x7x6", "conv2d 2 kernel=3x2 stride=2 padding=1 bias=false", (1, 1, 1, 1)),
        ("1x6x6", "conv2d 2 kernel=4 padding=same", (1, 2, 1, 2)),
    ],
)
def test_conv2d_values(shape, line, pads):
    ir, ctx, forward = make(shape, line)
    p = ir.nodes[0].params
    x = _rand(2, *ir.input)
    want = _naive_conv(x, ctx.params["0.weight"], ctx.params.get("0.bias"), p["stride"], pads)
    np.testing.assert_allclose(forward(x, False)[0], want, rtol=1e-12, atol=1e-12)


def _naive_pool(x, size, stride, pad, kind):
    n, c, h, w = x.shape
    ho, wo = (h + 2 * pad - size[0]) // stride[0] + 1, (w + 2 * pad - size[1]) // stride[1] + 1
    out = np.zeros((n, c, ho, wo))
    for i in range(ho):
        for j in range(wo):
            r0, c0 = i * stride[0] - pad, j * stride[1] - pad
            rows = slice(max(r0, 0), min(r0 + size[0], h))
            cols = slice(max(c0, 0), min(c0 + size[1], w))
            window = x[:, :, rows, cols]
            reduce = np.max if kind == "max" else np.mean  # mean over real pixels only
            out[:, :, i, j] = reduce(window, axis=(2, 3))
    return out


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize(
    "shape,args", [("2x6x7", ""), ("2x6x7", "3 stride=2 padding=1"), ("1x5x5", "2 stride=1")]
)
def test_pool_values(kind, shape, args):
    ir, ctx, forward = make(shape, f"{kind}pool2d {args}")
    p = ir.nodes[0].params
    x = _rand(2, *ir.input)
    want = _naive_pool(x, p["size"], p["stride"], p["padding"], kind)
    np.testing.assert_allclose(forward(x, False)[0], want, rtol=1e-12)


def test_maxpool_ties_route_to_the_first_maximum():
    ir, ctx, forward = make("1x2x2", "maxpool2d 2")
    x = np.ones((1, 1, 2, 2))
    y, backprop = forward(x, True)
    np.testing.assert_array_equal(backprop(np.ones((1, 1, 1, 1)))[0, 0], [[1, 0], [0, 0]])


def test_overlapping_maxpool_accumulates_gradients():
    ir, ctx, forward = make("1x1x3", "maxpool2d 1x2 stride=1")
    x = np.array([[[[0.0, 5.0, 1.0]]]])
    y, backprop = forward(x, True)
    np.testing.assert_array_equal(backprop(np.ones((1, 1, 1, 2))), [[[[0, 2, 0]]]])


def test_globalavgpool_and_flatten_values():
    x = _rand(2, 3, 4, 5)
    np.testing.assert_allclose(make("3x4x5", "globalavgpool")[2](x, False)[0], x.mean((2, 3)))
    y = make("3x4x5", "flatten")[2](x, False)[0]
    np.testing.assert_array_equal(y, x.reshape(2, 60))  # C, H, W order


def test_batchnorm_training_and_evaluation_values():
    ir, ctx, forward = make("3x4x4", "batchnorm eps=0.01")
    x = _rand(4, 3, 4, 4)
    g, b = ctx.params["0.weight"][:, None, None], ctx.params["0.bias"][:, None, None]
    mean, var = x.mean((0, 2, 3))[:, None, None], x.var((0, 2, 3))[:, None, None]
    want = g * (x - mean) / np.sqrt(var + 0.01) + b
    rm, rv = ctx.params["0.running_mean"].copy(), ctx.params["0.running_var"].copy()
    np.testing.assert_allclose(forward(x, True)[0], want, rtol=1e-10)
    # ... and evaluation uses the running statistics (as they were before this call).
    ctx.params["0.running_mean"][:], ctx.params["0.running_var"][:] = rm, rv
    want = g * (x - rm[:, None, None]) / np.sqrt(rv[:, None, None] + 0.01) + b
    np.testing.assert_allclose(forward(x, False)[0], want, rtol=1e-10)


@pytest.mark.parametrize("shape,axes", [("5", (0,)), ("2x3x3", (0, 2, 3))])
def test_batchnorm_running_statistics_after_several_steps(shape, axes):
    ir, ctx, forward = make(shape, "batchnorm momentum=0.9")
    rm, rv = np.zeros(ir.input[0]), np.ones(ir.input[0])
    ctx.params["0.running_mean"][:], ctx.params["0.running_var"][:] = rm, rv
    for step in range(4):
        x = _rand(6, *ir.input, seed=step) * (step + 1) + step
        forward(x, True)
        rm = 0.9 * rm + 0.1 * x.mean(axes)
        rv = 0.9 * rv + 0.1 * x.var(axes, ddof=1)
    np.testing.assert_allclose(ctx.params["0.running_mean"], rm, rtol=1e-12)
    np.testing.assert_allclose(ctx.params["0.running_var"], rv, rtol=1e-12)


def test_batchnorm_batch_of_one_is_a_clear_error():
    ir, ctx, forward = make("4", "batchnorm")
    with pytest.raises(ValueError, match="more than one value"):
        forward(_rand(1, 4), True)
    assert forward(_rand(1, 4), False)[0].shape == (1, 4)  # evaluation is fine
    # (C,H,W) input has H*W values per channel even in a batch of one.
    ir, ctx, forward = make("2x2x2", "batchnorm")
    assert np.isfinite(forward(_rand(1, 2, 2, 2), True)[0]).all()


def test_layernorm_values():
    ir, ctx, forward = make("2x3x4", "layernorm eps=0.001")
    x = _rand(2, 2, 3, 4)
    mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    want = (x - mean) / np.sqrt(var + 0.001) * ctx.params["0.weight"] + ctx.params["0.bias"]
    np.testing.assert_allclose(forward(x, True)[0], want, rtol=1e-10)


def test_dropout_is_inverted_and_seeded():
    ir, ctx, forward = make("1000", "dropout 0.3")
    x = np.ones((20, 1000), dtype=np.float32)
    assert forward(x, False)[0] is x
    ctx.rng = np.random.default_rng(5)
    y = forward(x, True)[0]
    assert set(np.unique(y)) == {np.float32(0), np.float32(1 / 0.7)}
    assert abs((y == 0).mean() - 0.3) < 0.01
    ctx.rng = np.random.default_rng(5)
    np.testing.assert_array_equal(forward(x, True)[0], y)


def _phi(v):
    return 0.5 * (1 + math.erf(v / math.sqrt(2)))


ACTIVATION_REFERENCE = {
    "linear": lambda v: v,
    "relu": lambda v: max(v, 0.0),
    "sigmoid": lambda v: 1 / (1 + math.exp(-v)),
    "tanh": math.tanh,
    "gelu": lambda v: v * _phi(v),
    "silu": lambda v: v / (1 + math.exp(-v)),
    "elu": lambda v: v if v > 0 else math.expm1(v),
    "selu": lambda v: SELU_SCALE * (v if v > 0 else SELU_ALPHA * math.expm1(v)),
    "leaky_relu": lambda v: v if v > 0 else 0.01 * v,
    "softplus": lambda v: math.log1p(math.exp(v)),
}


# Reference values for the activations written out above (a new one is checked against torch
# by the parity tests instead).
@pytest.mark.parametrize("act", [*ACTIVATION_REFERENCE, "softmax"])
def test_activation_values(act):
    x = np.linspace(-6, 6, 97).reshape(1, 97)
    y = make("97", act)[2](x, False)[0]
    if act == "softmax":
        e = np.exp(x - x.max())
        want = e / e.sum()
    else:
        want = np.array([[ACTIVATION_REFERENCE[act](v) for v in x[0]]])
    np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("act", ACTIVATIONS)
def test_activations_are_finite_at_extremes(act):
    x = np.array([[-1e4, -100.0, -30.0, 0.0, 30.0, 100.0, 1e4]], dtype=np.float32)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        forward = make("7", act, dtype=np.float32)[2]
        y, backprop = forward(x, True)
        dx = backprop(np.ones_like(y))
    assert np.isfinite(y).all() and np.isfinite(dx).all()


def test_gelu_float32_accuracy():
    x = np.linspace(-8, 8, 4001)
    y = make("4001", "gelu", dtype=np.float32)[2](x[None].astype(np.float32), False)[0][0]
    want = np.array([v * _phi(v) for v in x])
    np.testing.assert_allclose(y, want, rtol=1e-6, atol=2e-7)


def test_the_erfcx_table_is_its_chebyshev_fit():
    """activations.ERFCX is a table (the emitted source may import numpy only): refit it here,
    as a degree-28 Chebyshev interpolant of erfcx(x) = exp(x^2) erfc(x) in t = 1/(1 + x/k)."""
    from numpy.polynomial import chebyshev

    def erfcx(u):
        t = np.maximum((u + 1) / 2, 1e-300)
        out = []
        for x in np.minimum(activations.ERFCX_K * (1 / t - 1), 1e300):
            if x < 25:
                out.append(math.erfc(x) * math.exp(x * x))
            else:  # asymptotic series: erfc*exp(x^2) underflows/overflows separately here
                s = term = 1.0
                for n in range(1, 8):
                    term *= -(2 * n - 1) / (2 * x * x)
                    s += term
                out.append(s / (x * math.sqrt(math.pi)))
        return np.array(out)

    fit = chebyshev.chebinterpolate(erfcx, len(activations.ERFCX) - 1)
    np.testing.assert_allclose(fit, activations.ERFCX, rtol=1e-12, atol=1e-20)
