"""Shared test fixtures and markers."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from stackspec.layers import LAYERS

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
DATA = ROOT / "data" / "red-wine.csv"
HAS_TORCH = importlib.util.find_spec("torch") is not None

# Every registry entry's examples (LayerKind.examples): the generic tests (shapes, counts,
# gradients, parity, emitted source, weight round trips) walk these, so a new layer kind is
# covered by adding examples to its entry, never by editing a test.
EXAMPLES = [(op, ex[0], ex[1]) for op, k in LAYERS.items() for ex in k.examples if len(ex) == 2]
BAD_EXAMPLES = [(op, *ex) for op, k in LAYERS.items() for ex in k.examples if len(ex) == 3]


def dims(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


def example_spec(call: str, shape: tuple[int, ...]) -> str:
    return f"input {dims(shape)}\n{call}\n"


def example_id(call: str, shape: tuple[int, ...]) -> str:
    return f"{call}@{dims(shape)}"


def example_params(rows=EXAMPLES) -> list:
    """Examples as pytest params (op, call, shape[, code]), named by call and input."""
    return [pytest.param(*row, id=example_id(*row[1:3])) for row in rows]


# `residual` is structural (no registry entry, no examples): nested, around layers with weights
# and state, for every backend and every emitted source.
RESIDUAL = """
input 2x6x6
conv2d 3 relu kernel=2 padding=same
residual {
  conv2d 3 elu padding=1 bias=false
  batchnorm momentum=0.9 eps=0.00001 affine=false
  residual {
    relu
  }
}
globalavgpool
residual {
  dense 3 tanh
  layernorm
  dropout 0.5
}
"""

# `concat` and `add` (structural too): channels joined with an identity branch, a join nested in
# a branch, a residual in a branch, features joined after flattening.
BRANCHES = """
input 2x6x6
concat {
  branch {
    conv2d 3 relu kernel=2 padding=same
    batchnorm
  }
  branch {
  }
  branch {
    add {
      branch {
        conv2d 2 tanh padding=1
      }
      branch {
        residual {
          conv2d 2 padding=same
        }
      }
    }
  }
}
maxpool2d 2
flatten
add {
  branch {
    dense 4 relu
  }
  branch {
    dense 4
    layernorm
  }
}
concat {
  branch {
    dense 2
  }
  branch {
    dense 3 sigmoid
  }
}
"""


def every_layer_specs() -> dict[str, str]:
    """name -> spec text: one spec per valid example, RESIDUAL and BRANCHES."""
    specs = {example_id(call, shape): example_spec(call, shape) for _, call, shape in EXAMPLES}
    return {**specs, "residual": RESIDUAL, "branches": BRANCHES}


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


def varied_weights(spec, seed=0) -> dict:
    """The spec's initial weights with non-trivial scales, shifts, running and normalize
    statistics: what parity, emitted-source and export tests compare outputs on."""
    import numpy as np

    rng = np.random.default_rng(seed)
    weights = spec.compile("numpy").get_weights()
    for key, w in spec.ir.tensors().items():
        if key.endswith(("running_var", ".var")):
            weights[key] = rng.uniform(0.5, 2.0, w.shape)
        elif key.endswith(("running_mean", ".mean")):
            weights[key] = rng.normal(0, 0.3, w.shape)
        elif w.init in ("ones", "zeros"):
            weights[key] = (w.init == "ones") + rng.normal(0, 0.2, w.shape)
        weights[key] = np.asarray(weights[key], np.float32)
    return weights


def example_inputs(ir, n: int, seed: int = 0, scale: float = 1.0, dtype=np.float32):
    """A batch of n inputs for `ir`: normal(0, scale), or whole-number ids in [0, vocab) when
    the first layer reads ids (LayerKind.ids), as floats like every input."""
    rng = np.random.default_rng(seed)
    first = LAYERS.get(ir.nodes[0].op) if ir.nodes else None
    if first is not None and first.ids is not None:
        vocab = first.ids(ir.nodes[0].params)
        return rng.integers(0, vocab, (n, *ir.input)).astype(dtype)
    return rng.normal(0, scale, (n, *ir.input)).astype(dtype)


def takes_ids(ir) -> bool:
    """Whether ir's input is discrete ids, which have no input gradient to check."""
    return bool(ir.nodes) and ir.nodes[0].op in LAYERS and LAYERS[ir.nodes[0].op].ids is not None
