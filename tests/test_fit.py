"""The shared training loop: batch order, batch sizes, history, early stopping, NaN, interrupts.

The loop's mechanics are tested with a scripted fake backend (a linear model in NumPy), so each
rule is checked exactly; the NumPy backend covers determinism and the API end to end.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import warnings

import numpy as np
import pytest

import stackspec
from stackspec.training.fit_settings import resolve_settings
from stackspec.training.history import History
from stackspec.training.model import Model

LINEAR = "input 2\ndense 1\ntrain {\n loss mse\n optimizer sgd lr=0.1\n batch 4\n epochs 3\n}\n"
WITH_BN = "input 2\nbatchnorm\ndense 1\ntrain {\n loss mse\n batch 4\n epochs 2\n}\n"


class Fake(Model):
    """y = x @ w.T + b trained by SGD; records every batch; scripts losses and signals."""

    backend = "fake"

    def __init__(self, spec, script=None):
        self.spec = spec
        self.params = {k: np.zeros(w.shape, np.float32) for k, w in spec.ir.tensors().items()}
        self.dense = next(n.id for n in spec.ir.walk() if n.op == "dense")
        self.script = script or {}  # step number (1-based) -> loss value or "SIGINT"
        self.batches: list[np.ndarray] = []

    def _forward(self, x):
        w, b = self.params[f"{self.dense}.weight"], self.params[f"{self.dense}.bias"]
        return x.reshape(len(x), -1) @ w.T + b

    def _predict_batch(self, x):
        return self._forward(x).astype(np.float32)

    def _begin_training(self, train):
        self.lr = train["optimizer"]["lr"]
        self.began = train
        self.lrs: list[float] = []  # every _set_lr

    def _set_lr(self, lr):
        self.lr = lr
        self.lrs.append(lr)

    def _train_step(self, x, y):
        self.batches.append(x[:, 0].copy())
        out = self._forward(x)
        d = out[:, 0] - y
        self.params[f"{self.dense}.weight"] -= self.lr * (2 * d @ x / len(x))[None, :]
        self.params[f"{self.dense}.bias"] -= self.lr * 2 * d.mean()
        loss = float(np.mean(d**2))
        action = self.script.get(len(self.batches))
        if action == "SIGINT":
            os.kill(os.getpid(), signal.SIGINT)
        elif action is not None:
            loss = action
        return loss, out.astype(np.float32)

    def get_weights(self):
        return {k: v.copy() for k, v in self.params.items()}

    def set_weights(self, weights):
        for k, v in weights.items():
            self.params[k][...] = v


def data(n: int, seed: int = 0):
    """Column 0 is the example's index, so recorded batches show the order."""
    rng = np.random.default_rng(seed)
    X = np.stack([np.arange(n), rng.standard_normal(n)], axis=1).astype(np.float32)
    return X, (0.01 * X[:, 0] + X[:, 1]).astype(np.float32)


def fake(text=LINEAR, script=None) -> Fake:
    return Fake(stackspec.parse(text), script)


def test_batch_order_is_the_seeds_permutation_per_epoch_with_a_smaller_last_batch():
    m = fake()
    X, y = data(10)
    m.fit(X, y, seed=7, verbose=0)
    rng = np.random.default_rng(7)
    expected = [rng.permutation(10) for _ in range(3)]
    got = [np.concatenate(m.batches[i * 3 : i * 3 + 3]).astype(int) for i in range(3)]
    assert [len(b) for b in m.batches[:3]] == [4, 4, 2]
    for e, g in zip(expected, got, strict=True):
        assert g.tolist() == e.tolist()


def test_batch_order_without_shuffle_is_file_order():
    m = fake()
    m.fit(*data(6), shuffle=False, epochs=2, verbose=0)
    assert [b.astype(int).tolist() for b in m.batches] == [[0, 1, 2, 3], [4, 5]] * 2


def test_final_batch_of_one_is_skipped_with_batchnorm_once_warned(capsys):
    m = fake(WITH_BN)
    h = m.fit(*data(9), verbose=2)
    assert [len(b) for b in m.batches] == [4, 4, 4, 4]
    err = capsys.readouterr().err
    assert err.count("last batch of 1") == 1 and "skipped" in err
    rng = np.random.default_rng(0)
    for i in (0, 2):  # the permutation's last example is the one left out of each epoch
        order = rng.permutation(9)
        assert np.concatenate(m.batches[i : i + 2]).astype(int).tolist() == order[:8].tolist()
    assert len(h["loss"]) == 2
    m = fake()  # without batchnorm the batch of one is used
    m.fit(*data(9), epochs=1, verbose=0)
    assert [len(b) for b in m.batches] == [4, 4, 1]


def test_batches_of_one_everywhere_with_batchnorm_are_refused():
    with pytest.raises(ValueError, match="batch 1 cannot train a model with batchnorm"):
        fake(WITH_BN).fit(*data(8), batch=1, verbose=0)
    with pytest.raises(ValueError, match="one training example"):
        fake(WITH_BN).fit(*data(1), verbose=0)


def test_epoch_loss_is_the_batch_size_weighted_mean():
    m = fake(script={1: 1.0, 2: 2.0, 3: 10.0})
    h = m.fit(*data(10), epochs=1, verbose=0)
    assert h["loss"] == [pytest.approx((4 * 1 + 4 * 2 + 2 * 10) / 10)]


def test_history_keys_metrics_and_validation_in_evaluation_mode():
    m = fake()
    X, y = data(12)
    h = m.fit(X[:8], y[:8], validation_data=(X[8:], y[8:]), metrics=["mae", "accuracy"], verbose=0)
    assert list(h) == ["loss", "val_loss", "mae", "val_mae", "accuracy", "val_accuracy", "lr"]
    assert h.history is h and h.epoch == [1, 2, 3] and all(len(v) == 3 for v in h.values())
    assert isinstance(h, History) and m.history is h
    pred = m._predict_batch(X[8:])[:, 0]  # the final weights' validation numbers
    assert h["val_loss"][-1] == pytest.approx(float(np.mean((pred - y[8:]) ** 2)), rel=1e-5)
    assert h["val_mae"][-1] == pytest.approx(float(np.mean(np.abs(pred - y[8:]))), rel=1e-5)
    csv = h.to_csv().splitlines()
    assert csv[0] == "epoch,loss,val_loss,mae,val_mae,accuracy,val_accuracy,lr"
    assert h["lr"] == [0.1] * 3 and m.lrs == [0.1]  # no schedule: set once, before step 1
    assert csv[1].split(",")[1] == repr(h["loss"][0])


def test_progress_bar_and_silent_modes(capsys):
    X, y = data(12)
    fake().fit(X[:8], y[:8], validation_data=(X[8:], y[8:]), verbose=1)
    err = capsys.readouterr().err
    assert "epoch 1/3" in err and "epoch 3/3" in err and "val_loss" in err and "done:" in err
    fake().fit(X, y, verbose=0)
    assert capsys.readouterr().err == ""


def test_settings_come_from_the_train_section_and_are_overridable():
    m = fake()
    m.fit(*data(8), verbose=0)
    assert m.began["batch"] == 4 and m.began["epochs"] == 3 and m.began["seed"] == 0
    m.fit(*data(8), epochs=1, batch=8, seed=3, verbose=0)
    assert (m.began["batch"], m.began["epochs"], m.began["seed"]) == (8, 1, 3)
    with pytest.raises(ValueError):
        resolve_settings(m.ir.train, epochs=0)
    with pytest.raises(ValueError):
        resolve_settings(m.ir.train, metrics=["f1"])
    assert resolve_settings(m.ir.train, early_stop=True)["early_stop"]["patience"] == 10


def scripted_val(values):
    """A fake whose validation loss follows `values` (its bias is set to sqrt(value) after each
    epoch's single step; validation targets are 0 and inputs 0)."""
    m = fake()
    it = iter(values)
    original = m._train_step

    def step(x, y):
        loss, out = original(x, y)
        m.params["0.weight"][...] = 0
        m.params["0.bias"][...] = np.sqrt(next(it))
        return loss, out

    m._train_step = step
    return m


def test_early_stopping_patience_and_restore_best(capsys):
    m = scripted_val([5, 3, 4, 4, 1, 1])
    Xv, yv = np.zeros((2, 2), np.float32), np.zeros(2, np.float32)
    h = m.fit(*data(4), validation_data=(Xv, yv), epochs=6, early_stop={"patience": 2}, verbose=2)
    assert h.stop_reason == "early_stop" and h.epoch == [1, 2, 3, 4]
    assert h.best_epoch == 2 and h.best == pytest.approx(3)
    assert h.restored_best and m.params["0.bias"][0] == pytest.approx(np.sqrt(3))
    assert "early stop after epoch 4" in capsys.readouterr().err


def test_early_stopping_min_delta_and_no_restore():
    m = scripted_val([5, 4.95, 4.9, 4.0])
    Xv, yv = np.zeros((2, 2), np.float32), np.zeros(2, np.float32)
    es = {"patience": 2, "min_delta": 0.2, "restore_best": False}
    h = m.fit(*data(4), validation_data=(Xv, yv), epochs=4, early_stop=es, verbose=0)
    assert h.epoch == [1, 2, 3] and h.best_epoch == 1 and not h.restored_best
    assert m.params["0.bias"][0] == pytest.approx(np.sqrt(4.9))


def test_early_stopping_from_the_spec_restores_best_on_the_numpy_backend():
    text = (
        "input 2\ndense 8 relu\ndense 1\ntrain {\n loss mse\n optimizer sgd lr=0.5\n batch 4\n"
        " epochs 30\n early_stop patience=2\n}\n"
    )
    model = stackspec.parse(text).compile("numpy")
    X, y = data(40)
    X[:, 0] /= 40
    h = model.fit(X[:20], y[:20], validation_data=(X[20:], y[20:]), verbose=0)
    assert h.restored_best
    best = model.evaluate(X[20:], y[20:])["loss"]
    assert best == pytest.approx(h["val_loss"][h.best_epoch - 1], rel=1e-5)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_loss_stops_at_once_keeping_the_last_finite_epoch(capsys, bad):
    m = fake(script={5: bad})  # epoch 2 (3 batches per epoch), batch 2
    X, y = data(10)
    h = m.fit(X, y, epochs=3, verbose=2)
    assert h.stop_reason == "nan" and h.failed and h.epoch == [1]
    assert len(m.batches) == 5  # nothing after the bad batch
    assert "epoch 2, batch 2" in h.message and "epoch 2, batch 2" in capsys.readouterr().err
    ref = fake()
    ref.fit(X, y, epochs=1, verbose=0)
    assert all(np.array_equal(ref.params[k], m.params[k]) for k in m.params)


def test_non_finite_loss_in_the_first_epoch_keeps_the_initial_weights():
    m = fake(script={2: float("nan")})
    h = m.fit(*data(10), verbose=0)
    assert h.epoch == [] and "initial" in h.weights and "epoch 1, batch 2" in h.message
    assert all((v == 0).all() for v in m.params.values())


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_validation_loss_follows_the_nan_rule(capsys, bad):
    m = scripted_val([5, bad, 1])  # epoch 2 ends with a non-finite val_loss
    Xv, yv = np.zeros((2, 2), np.float32), np.zeros(2, np.float32)
    h = m.fit(*data(4), validation_data=(Xv, yv), epochs=3, verbose=2)
    what = "nan" if np.isnan(bad) else "infinite"
    assert h.stop_reason == "nan" and h.failed and h.epoch == [1] and len(m.batches) == 2
    assert h.message == (
        f"the validation loss became {what} in epoch 2; stopped, keeping the weights of epoch 1"
    )
    assert m.params["0.bias"][0] == pytest.approx(np.sqrt(5))  # epoch 1's, not epoch 2's
    assert "stopped: the validation loss" in capsys.readouterr().err


def test_non_finite_validation_loss_in_the_last_epoch_is_a_failure_too():
    m = scripted_val([float("inf")])
    Xv, yv = np.zeros((2, 2), np.float32), np.zeros(2, np.float32)
    h = m.fit(*data(4), validation_data=(Xv, yv), epochs=1, verbose=0)
    assert h.failed and h.epoch == [] and "initial" in h.weights
    assert all((v == 0).all() for v in m.params.values())


@pytest.mark.parametrize("seed", [-1, 2**63, 2**64, True, 1.5, "3"])
def test_a_seed_outside_0_to_2_63_is_a_value_error_before_any_backend_runs(seed):
    spec = stackspec.parse(LINEAR)
    with pytest.raises(ValueError, match=r"seed must be an integer from 0 to 2\^63-1"):
        spec.compile("numpy", seed=seed)
    with pytest.raises(ValueError, match=r"seed must be an integer from 0 to 2\^63-1"):
        fake().fit(*data(4), seed=seed, verbose=0)


def test_the_largest_seed_works_in_every_backend():
    spec = stackspec.parse(LINEAR)
    backends = ["numpy"] + (["torch"] if importlib.util.find_spec("torch") else [])
    for backend in backends:
        model = spec.compile(backend, seed=2**63 - 1)
        assert model.fit(*data(4), epochs=1, seed=2**63 - 1, verbose=0).stop_reason == "completed"


def test_overflowing_predict_and_evaluate_raise_no_runtime_warning():
    model = stackspec.parse(LINEAR).compile("numpy")
    model.set_weights({k: np.full_like(v, 3e38) for k, v in model.get_weights().items()})
    X = np.full((3, 2), 3e38, np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not np.isfinite(model.predict(X)).any()
        assert not np.isfinite(model.evaluate(X, np.zeros(3))["loss"])


def test_sigint_stops_after_the_current_batch_and_keeps_the_work():
    previous = signal.getsignal(signal.SIGINT)
    m = fake(script={5: "SIGINT"})
    h = m.fit(*data(10), epochs=3, verbose=0)
    assert h.stop_reason == "interrupted" and h.epoch == [1]
    assert len(m.batches) == 5 and "batch 2 of epoch 2" in h.weights
    assert signal.getsignal(signal.SIGINT) is previous  # handlers restored


def test_sigint_after_the_last_batch_records_the_epoch():
    m = fake(script={3: "SIGINT"})
    h = m.fit(*data(10), epochs=3, verbose=0)
    assert h.stop_reason == "interrupted" and h.epoch == [1] and len(m.batches) == 3


def test_second_sigint_raises_keyboard_interrupt():
    m = fake()
    original = m._train_step

    def step(x, y):  # two signals inside the second batch
        if len(m.batches) == 1:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
        return original(x, y)

    m._train_step = step
    with pytest.raises(KeyboardInterrupt):
        m.fit(*data(10), verbose=0)
    assert len(m.batches) == 1


def numpy_run(seed=None, text=None):
    text = text or (
        "input 11\ndense 16 relu\ndropout 0.3\nbatchnorm\ndense 1\n"
        "train {\n loss mae\n batch 64\n epochs 2\n metrics mse\n}\n"
    )
    from conftest import DATA

    from stackspec.training.data import read_csv

    spec = stackspec.parse(text)
    ds = read_csv(DATA, spec.ir, "quality")
    model = spec.compile("numpy", seed=seed)
    h = model.fit(ds.X[:400], ds.y[:400], validation_split=0.25, seed=seed, verbose=0)
    return model, h


def test_same_seed_same_history_bit_for_bit_and_other_seed_differs():
    m1, h1 = numpy_run(3)
    m2, h2 = numpy_run(3)
    assert dict(h1) == dict(h2) and h1.to_csv() == h2.to_csv()
    assert all(np.array_equal(v, m2.get_weights()[k]) for k, v in m1.get_weights().items())
    _, h3 = numpy_run(4)
    assert h3["loss"] != h1["loss"]


def test_predict_and_evaluate_api():
    model, _ = numpy_run(0)
    X = np.zeros((5, 11), np.float32)
    p = model.predict(X)
    assert p.shape == (5, 1) and p.dtype == np.float32
    assert np.allclose(model.predict(X, batch=2), p, rtol=1e-5, atol=1e-6)
    res = model.evaluate(X, np.zeros(5))
    assert set(res) == {"loss", "mse"}
    assert res["loss"] == pytest.approx(float(np.mean(np.abs(p))), rel=1e-5)


def test_predict_gives_probabilities_for_bce_and_crossentropy():
    ce = stackspec.parse("input 3\ndense 4\ntrain {\n loss crossentropy\n}\n").compile("numpy")
    p = ce.predict(np.random.default_rng(0).standard_normal((6, 3)) * 10)
    assert p.shape == (6, 4) and np.allclose(p.sum(1), 1, atol=1e-6) and (p >= 0).all()
    bce = stackspec.parse("input 3\ndense 1\ntrain {\n loss bce\n}\n").compile("numpy")
    p = bce.predict(np.random.default_rng(0).standard_normal((6, 3)) * 10)
    assert p.shape == (6, 1) and ((p >= 0) & (p <= 1)).all()


def test_validation_split_and_data_errors_through_the_api():
    m = fake()
    with pytest.raises(ValueError):
        m.fit(*data(8), validation_data=data(4), validation_split=0.5)
    h = m.fit(*data(8), validation_split=0.25, epochs=1, verbose=0)
    assert "val_loss" in h and sum(len(b) for b in m.batches[-2:]) == 6
    with pytest.raises(stackspec.SpecError):
        m.fit(np.zeros((4, 3)), np.zeros(4), verbose=0)


def test_callbacks_see_keras_hooks_in_order_and_can_stop_training():
    import stackspec

    calls = []

    class Recorder(stackspec.Callback):
        def on_train_begin(self, logs=None):
            calls.append(("train_begin", self.model is model))

        def on_epoch_begin(self, epoch, logs=None):
            calls.append(("epoch_begin", epoch))

        def on_batch_end(self, batch, logs=None):
            calls.append(("batch_end", batch, logs["size"]))

        def on_epoch_end(self, epoch, logs=None):
            calls.append(("epoch_end", epoch, sorted(logs)))
            if epoch == 1:
                self.model.stop_training = True

        def on_train_end(self, logs=None):
            calls.append(("train_end", sorted(logs)))

    spec = stackspec.parse("input 2\ndense 1\ntrain {\n  epochs 5\n  batch 4\n}\n")
    model = spec.compile("numpy")
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    history = model.fit(x, x[:, 0], validation_data=(x, x[:, 0]), callbacks=[Recorder()], verbose=0)
    keys = ["loss", "lr", "val_loss"]
    assert calls == [
        ("train_begin", True),
        ("epoch_begin", 0),
        ("batch_end", 0, 4),
        ("batch_end", 1, 2),
        ("epoch_end", 0, keys),
        ("epoch_begin", 1),
        ("batch_end", 0, 4),
        ("batch_end", 1, 2),
        ("epoch_end", 1, keys),
        ("train_end", keys),
    ]
    assert history.epoch == [1, 2]
    assert history.stop_reason == "stopped"


def test_a_callback_without_the_hooks_is_refused_up_front():
    import stackspec

    model = stackspec.parse("input 2\ndense 1\n").compile("numpy")
    x = np.zeros((4, 2), np.float32)
    with pytest.raises(TypeError, match="on_train_begin"):
        model.fit(x, x[:, 0], callbacks=[object()], verbose=0)


def test_batch_size_is_kerass_name_for_batch():
    import stackspec

    model = stackspec.parse("input 2\ndense 1\ntrain {\n  epochs 1\n}\n").compile("numpy")
    x = np.zeros((10, 2), np.float32)
    seen = []

    class Sizes(stackspec.Callback):
        def on_batch_end(self, batch, logs=None):
            seen.append(logs["size"])

    model.fit(x, x[:, 0], batch_size=4, callbacks=[Sizes()], verbose=0)
    assert seen == [4, 4, 2]
    with pytest.raises(ValueError, match="batch or batch_size"):
        model.fit(x, x[:, 0], batch=3, batch_size=4, verbose=0)
