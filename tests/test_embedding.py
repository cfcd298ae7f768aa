"""embedding and posembed beyond the registry's generic tests: the ids' checks at every level
(a CSV's row and column, the API's example and position, each backend's forward), and a small
model trained from the command line."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import HAS_TORCH

import stackspec
from stackspec.backends.numpy.embedding import embedding_values
from stackspec.cli import main
from stackspec.diagnostics import SpecError

SPEC = """input 6
embedding 10 4
globalavgpool
dense 1

train {
  epochs 30
  optimizer adam lr=0.03
}
"""


def write_ids(path, bad: dict | None = None, n: int = 120) -> None:
    """A CSV of n rows of 6 ids in [0, 10) and y = how many are 3; `bad` sets (row, col) cells
    (data rows from 0) to other text."""
    rng = np.random.default_rng(0)
    X = rng.integers(0, 10, (n, 6)).astype(object)
    y = (X == 3).sum(axis=1)
    for (row, col), text in (bad or {}).items():
        X[row, col] = text
    lines = [",".join([f"i{j}" for j in range(6)] + ["y"])]
    lines += [",".join(map(str, [*r, t])) for r, t in zip(X, y, strict=True)]
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_a_bag_of_ids_trains_from_the_cli(backend, tmp_path):
    if backend == "torch" and not HAS_TORCH:
        pytest.skip("no torch")
    (tmp_path / "m.stack").write_text(SPEC)
    write_ids(tmp_path / "ids.csv")
    out = tmp_path / "run"
    args = ["train", tmp_path / "m.stack", "--data", tmp_path / "ids.csv", "--target", "y"]
    done = CliRunner().invoke(main, [*map(str, args), "--out", str(out), "--backend", backend])
    assert done.exit_code == 0, done.output
    history = (out / "history.csv").read_text().splitlines()
    header, last = history[0].split(","), history[-1].split(",")
    assert float(last[header.index("val_loss")]) < 0.05  # the count of 3s is linear in the bag


@pytest.mark.parametrize(("text", "col"), [("7.5", 3), ("12", 1), ("-1", 6)])
def test_a_bad_id_in_the_csv_is_named_by_row_and_column(text, col, tmp_path):
    (tmp_path / "m.stack").write_text(SPEC)
    write_ids(tmp_path / "bad.csv", {(3, col - 1): text})  # data row 3 is the file's row 5
    args = ["train", tmp_path / "m.stack", "--data", tmp_path / "bad.csv", "--target", "y"]
    done = CliRunner().invoke(main, [*map(str, args), "--out", str(tmp_path / "run")])
    assert done.exit_code == 1
    assert f"bad.csv:5:{col}: error[E515]: id {text} at row 5, column {col} ('i{col - 1}')" in (
        done.output
    )
    assert "not a whole number in [0, 10)" in done.output


def test_the_api_names_example_and_position():
    model = stackspec.parse(SPEC).compile("numpy")
    X = np.random.default_rng(1).integers(0, 10, (4, 6)).astype(np.float32)
    X[2, 4] = 10
    with pytest.raises(SpecError) as e:
        model.fit(X, np.zeros(4), epochs=1, verbose=0)
    assert "X[2, 4] = 10 is not a whole number in [0, 10)" in str(e.value.diagnostics[0].message)
    with pytest.raises(SpecError):
        model.predict(X)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_the_forward_refuses_a_bad_id_naming_example_and_position(backend):
    if backend == "torch" and not HAS_TORCH:
        pytest.skip("no torch")
    spec = stackspec.parse("input 3\nembedding 5 2\n")
    X = np.array([[0, 1, 2], [4, 2.5, 0]], np.float32)
    if backend == "numpy":
        forward = spec.compile("numpy").forward
        for training in (True, False):
            with pytest.raises(ValueError, match="of example 1, position 1 is not a whole"):
                forward(X, training)
    else:
        import torch

        model = spec.compile("torch", device="cpu")
        with pytest.raises(ValueError, match="id 2.5 of example 1, position 1 is not a whole"):
            model(torch.from_numpy(X))
        X[1, 1] = 5  # torch's own IndexError would come too late and name nothing
        with pytest.raises(ValueError, match="id 5.0 of example 1, position 1 .* \\[0, 5\\)"):
            model(torch.from_numpy(X))


def test_embedding_values_scatter_and_posembed():
    weight = np.arange(12, dtype=np.float32).reshape(4, 3)
    x = np.array([[3, 0, 3]], np.float32)
    np.testing.assert_array_equal(embedding_values(x, weight), weight[[[3, 0, 3]]])
    model = stackspec.parse("input 3\nembedding 4 3\nposembed\n").compile("numpy")
    model.set_weights({"0.weight": weight, "1.weight": np.ones((3, 3), np.float32)})
    y, backprop = model.forward(x, True)
    np.testing.assert_array_equal(y, weight[[[3, 0, 3]]] + 1)
    backprop(np.ones_like(y))
    # id 3 was read twice: its row gathers both gradients.
    np.testing.assert_array_equal(model.grads["0.weight"][:, 0], [1, 0, 0, 2])
    np.testing.assert_array_equal(model.grads["1.weight"], np.ones((3, 3)))


def test_embedding_is_first_only_and_starts_as_keras():
    with pytest.raises(SpecError) as e:
        stackspec.parse("input 6\ndense 6\nembedding 10 4\n")
    d = e.value.diagnostics[0]
    assert d.code == "E214" and "its ids come from the data" in d.hint
    w = stackspec.parse("input 6\nembedding 1000 8\n").compile("numpy").get_weights()["0.weight"]
    assert w.shape == (1000, 8) and np.abs(w).max() <= 0.05 and np.abs(w).max() > 0.049
