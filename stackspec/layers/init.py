"""Initial weights, shared by every backend (LANGUAGE.md §4, §6).

The weights depend on the seed alone: one np.random.Generator walks `ir.tensors()` in order,
so both backends start from the same tensors. Initializers follow Keras: fan-in and fan-out
come from the registry's Weight (for conv2d they include the kernel area).
"""

from __future__ import annotations

import math

import numpy as np

from . import Weight

TYPE_CHECKING = False
if TYPE_CHECKING:  # the IR is only walked here; importing it would point up the pipeline
    from ..compiler.ir import IR

# Keras's truncated normals cut at 2 standard deviations; dividing the standard deviation by
# the std of a standard normal truncated to [-2, 2] keeps the intended variance.
TRUNCATED_STD = 0.87962566103423978


def _uniform(limit: float):
    def init(w: Weight, rng: np.random.Generator) -> np.ndarray:
        return rng.uniform(-limit, limit, w.shape)

    return init


def _truncated_normal(std: float, rng: np.random.Generator, shape) -> np.ndarray:
    std /= TRUNCATED_STD
    out = rng.normal(0.0, std, shape)
    bad = np.abs(out) > 2 * std
    while bad.any():  # resample only what fell outside, as Keras and TensorFlow do
        out[bad] = rng.normal(0.0, std, int(bad.sum()))
        bad = np.abs(out) > 2 * std
    return out


def glorot_uniform(w: Weight, rng):
    return _uniform(math.sqrt(6 / (w.fan_in + w.fan_out)))(w, rng)


def glorot_normal(w: Weight, rng):
    return _truncated_normal(math.sqrt(2 / (w.fan_in + w.fan_out)), rng, w.shape)


def he_uniform(w: Weight, rng):
    return _uniform(math.sqrt(6 / w.fan_in))(w, rng)


def he_normal(w: Weight, rng):
    return _truncated_normal(math.sqrt(2 / w.fan_in), rng, w.shape)


def lecun_normal(w: Weight, rng):
    return _truncated_normal(math.sqrt(1 / w.fan_in), rng, w.shape)


def uniform(w: Weight, rng):
    # Keras's "uniform" (RandomUniform), the start of its Embedding.
    return _uniform(0.05)(w, rng)


def zeros(w: Weight, rng):
    return np.zeros(w.shape)


def ones(w: Weight, rng):
    return np.ones(w.shape)


def quarter(w: Weight, rng):
    # prelu's slopes start at 0.25, as torch's nn.PReLU (Keras's PReLU starts at 0).
    return np.full(w.shape, 0.25)


def orthogonal(w: Weight, rng):
    # Keras's Orthogonal (gain 1): Q of the QR of a normal matrix, signs fixed by R's diagonal.
    # Our recurrent kernel (gates*units, units) is Keras's (units, gates*units) transposed, and
    # Keras draws exactly that tall matrix and transposes it.
    rows, cols = w.shape
    q, r = np.linalg.qr(rng.normal(0.0, 1.0, (max(rows, cols), min(rows, cols))))
    q *= np.sign(np.diag(r))
    return q if rows >= cols else q.T


def unit_forget(w: Weight, rng):
    # The LSTM's bias_ih (i, f, g, o): Keras's unit_forget_bias, 1 for the forget gate.
    out = np.zeros(w.shape)
    units = w.shape[0] // 4
    out[units : 2 * units] = 1.0
    return out


INITIALIZERS = {
    f.__name__: f
    for f in (
        glorot_uniform,
        glorot_normal,
        he_uniform,
        he_normal,
        lecun_normal,
        uniform,
        zeros,
        ones,
        quarter,
        orthogonal,
        unit_forget,
    )
}


def initial_weights(ir: IR, seed: int) -> dict[str, np.ndarray]:
    """Every weight-file tensor of `ir` (trainable and state), float32, in §8 layouts."""
    rng = np.random.default_rng(seed)
    return {key: INITIALIZERS[w.init](w, rng).astype(np.float32) for key, w in ir.tensors().items()}
