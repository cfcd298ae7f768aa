"""The model API of LANGUAGE.md §10, shared by every backend.

`Model` holds everything that is not tensor code: fit (via fit.py), predict, evaluate, save and
load. A backend subclasses it and implements the five abstract methods below; nothing else.
Data crosses the boundary as float32 NumPy arrays, so batching, batch order, history, early
stopping, NaN handling and files behave identically in both backends.
"""

from __future__ import annotations

import numpy as np

from ..diagnostics import array_shape


class Model:
    """Mixin: subclasses set `self.spec` (a stackspec.Spec) and implement the tensor code."""

    backend: str = "?"
    # What a data section learned in training (encoding.py), saved with the weights; None
    # for a model trained on arrays or loaded from a file that holds none.
    encoding: dict | None = None

    @property
    def ir(self):
        return self.spec.ir

    # --- tensor code, supplied by each backend --------------------------------------------

    def _predict_batch(self, x: np.ndarray) -> np.ndarray:
        """Evaluation mode: float32 (N, *input_shape) -> float32 (N, *output_shape), the values
        the loss reads: for bce/crossentropy always logits, a final sigmoid/softmax being left
        out (`ir.logit_nodes()`, §6), so metrics and predict apply it once. Never updates
        running statistics."""
        raise NotImplementedError

    def _begin_training(self, train: dict) -> None:
        """Prepare a training run from the resolved train settings (the IR's `train` dict with
        overrides applied): build the optimizer for train["optimizer"] (fresh state), the loss for
        train["loss"], and seed the dropout RNG from train["seed"]; keep train["clip"] for the
        steps."""
        raise NotImplementedError

    def _set_lr(self, lr: float) -> None:
        """The learning rate of the following steps (fit.py calls it before a step whenever the
        schedule changes it, and before the first one). AdamW's decay uses it too."""
        raise NotImplementedError

    def _train_step(
        self, x: np.ndarray, y: np.ndarray, w: np.ndarray | None = None
    ) -> tuple[float, np.ndarray]:
        """One step in training mode on a batch: forward, loss (mean over the batch), backward,
        gradient clipping (train["clip"]: torch's clip_grad_norm_ / clip_grad_value_ rules),
        optimizer update, batchnorm running statistics. Returns (loss, float32 outputs), the
        outputs as _predict_batch gives them (logits for bce/crossentropy).
        y is float32 for mse/mae/huber/bce and int64 class labels for crossentropy.
        `w`: float32 (N,) per-example weights (class and sample weights) or None; weighted, the
        loss is Keras's sum_i w_i * l_i / N, l_i example i's loss averaged over its outputs
        (numerics.loss_and_grad). The training loop passes only x and y when there are no
        weights."""
        raise NotImplementedError

    def get_weights(self) -> dict[str, np.ndarray]:
        """Every tensor of the weight file (`ir.tensors()` keys, running statistics included) as
        float32 NumPy copies in §8 layouts."""
        raise NotImplementedError

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        """Replace every tensor; `weights` has exactly the `ir.tensors()` keys and shapes."""
        raise NotImplementedError

    # --- training state, for checkpoints (checkpoints.py) ------------------------------------
    # A checkpoint holds what exact resumption needs besides the weights: the optimizer's
    # buffers and step count, and the dropout RNG. The optimizer's tensors are keyed
    # `{weight key}.{buffer}` with the NumPy optimizer's buffer names (`m`, `v` for Adam and
    # RMSprop's squares, `momentum` for SGD), so either backend reads the other's file.

    def _optimizer_state(self, copy: bool = True) -> tuple[dict[str, np.ndarray], dict]:
        """(tensors, scalars) of the optimizer of the current run, after _begin_training:
        float32 NumPy copies of every buffer (`{weight key}.{buffer}`; none before the first
        step) and {"t": optimizer steps taken}. With copy=False the arrays may be views of the
        buffers themselves, valid until the next step."""
        raise NotImplementedError

    def _load_optimizer_state(self, tensors: dict[str, np.ndarray], scalars: dict) -> None:
        """Put back an `_optimizer_state()`, after _begin_training built a fresh optimizer: the
        next step continues exactly as the saved optimizer would have."""
        raise NotImplementedError

    def _rng_state(self) -> dict:
        """The dropout RNG's state as JSON-able data (the batch order's RNG is fit.py's)."""
        raise NotImplementedError

    def _set_rng_state(self, state: dict) -> None:
        """Put back a `_rng_state()`, after _begin_training seeded the RNG."""
        raise NotImplementedError

    def _rank(self) -> tuple[int, int]:
        """(rank, number of workers) of this process: (0, 1) but in data-parallel training
        (backends/torch/distributed.py), where a checkpoint holds every rank's dropout RNG."""
        return 0, 1

    def _check_training(self, precision: str, compile: bool) -> None:
        """A SettingError when this backend, on its device, cannot train in `precision` ("32",
        "bf16", "16") or through torch.compile: before training starts (fit, and the CLI before
        it makes a run folder). The NumPy backend trains in float32, uncompiled, only."""
        from .fit_settings import SettingError

        if precision != "32":
            raise SettingError(
                f"precision {precision} needs the torch backend (--backend torch): the "
                f"{self.backend} backend trains in float32 only"
            )
        if compile:
            raise SettingError(
                f"compile needs the torch backend (--backend torch): the {self.backend} backend "
                "has nothing to compile"
            )

    def _snapshot_arrays(self, snapshot) -> dict[str, np.ndarray]:
        """A `_snapshot()` as NumPy arrays (a checkpoint's best-epoch weights)."""
        return snapshot

    def _agreed_stop(self, flag):
        """The stop flag (progress.stop_requests) that the loop reads; data-parallel training
        (backends/torch/distributed.py) replaces it by one that all ranks agree on."""
        return flag

    def _checked(self, weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """`weights` as float32 arrays in `ir.tensors()` order, or a ValueError naming the
        missing and extra keys or the first tensor of another shape: for set_weights."""
        expected = self.ir.tensors()
        missing = [k for k in expected if k not in weights]
        extra = [k for k in weights if k not in expected]
        if missing or extra:
            raise ValueError(f"weights do not match the model: missing {missing}, extra {extra}")
        out = {}
        for key, w in expected.items():
            value = np.asarray(weights[key], np.float32)
            if value.shape != tuple(w.shape):
                raise ValueError(
                    f"weight {key}: expected shape {array_shape(w.shape)}, "
                    f"got {array_shape(value.shape)}"
                )
            out[key] = value
        return out

    def _snapshot(self):
        """An opaque copy of every tensor for the training loop's rollback and best-epoch
        copies. Defaults to get_weights; a GPU backend overrides it to copy on the device."""
        return self.get_weights()

    def _restore(self, snapshot) -> None:
        """Put back a `_snapshot()`."""
        self.set_weights(snapshot)

    # --- the shared API (LANGUAGE.md §10); no tensor code below this line ------------------

    def fit(
        self,
        X,
        y,
        validation_data=None,
        validation_split: float | None = None,
        epochs: int | None = None,
        batch: int | None = None,
        seed: int | None = None,
        shuffle: bool | None = None,
        early_stop: dict | bool | None = None,
        metrics: list[str] | None = None,
        verbose: int | str = "auto",
        callbacks: list | None = None,
        batch_size: int | None = None,
        class_weight=None,
        sample_weight=None,
        adapt: bool = True,
        initial_epoch: int = 0,
        resume_from=None,
        schedule: dict | bool | None = None,
        clip: dict | bool | None = None,
        precision: str | int | None = None,
        compile: bool | None = None,
    ):
        """Train on arrays; returns a `history.History` (a dict of per-epoch lists, as Keras's
        `history.history`: loss, val_loss, then NAME, val_NAME per metric, then lr).

        Settings default to the spec's train section; each argument overrides one. `seed` sets
        the batch order, the validation split and the dropout masks (the initial weights were
        drawn when the model was compiled: `spec.compile(backend, seed=...)`). `validation_data`
        is (Xv, yv); `validation_split` instead holds out a random fraction of X, from the seed.
        `early_stop`: a dict of patience/min_delta/restore_best, True for the defaults, False to
        turn off the spec's. X is (N, *input) or, for image inputs, flat (N, C*H*W). A
        non-finite loss or Ctrl-C ends training without an exception: see `history.stop_reason`.
        `callbacks`: stackspec.Callback objects with Keras's hooks (callbacks.py); `batch_size` is
        Keras's name for `batch`. `class_weight` ("balanced", a list with a weight per class, or
        Keras's dict {class: weight}) replaces the spec's; `sample_weight` (N,) weighs each
        example of X; both weigh the training loss only (weighting.py).
        `metrics`: names (docs/training.md "Metrics"); top_k_accuracy's k is given as
        {"name": "top_k_accuracy", "k": 3}, else the spec's (5 by default).
        `schedule` ({"name": "cosine", "warmup": 5, ...}) and `clip` ({"norm": 1.0} or
        {"value": 0.5}) replace the spec's (False turns it off), checked as the spec's lines are.
        `adapt=False` keeps a `normalize` layer's statistics (those of a loaded weight file, when
        fine-tuning) instead of computing them from X.
        `precision` ("32", "bf16" or "16") and `compile` (torch.compile): the torch backend's
        mixed precision and compilation of the training steps (docs/scaling.md); the NumPy
        backend refuses anything but float32.
        Epochs run from `initial_epoch + 1` to `epochs` (Keras).
        `resume_from`: a checkpoint folder (`checkpoints/epoch-NNNN`), or a folder holding
        checkpoints (a run folder, its `checkpoints/`): the newest one. Training continues after
        its epoch with its weights, optimizer state, RNG states, early stopping and history, and
        ends as the uninterrupted run would have, given the same data and settings (docs/
        training.md, "Checkpoints and resume"). The returned history holds every epoch.
        """
        from . import data
        from .arrays import as_arrays
        from .fit import fit as run_fit
        from .weighting import check_sample_weight

        if validation_data is not None and validation_split:
            raise ValueError("give validation_data or validation_split, not both")
        if batch is not None and batch_size is not None and batch != batch_size:
            raise ValueError("give batch or batch_size, not both")
        batch = batch_size if batch is None else batch
        resume = self._checkpoint_state(resume_from, initial_epoch)
        X, y = as_arrays(self.ir, X, y, "<X, y>")
        if sample_weight is not None:
            sample_weight = check_sample_weight(sample_weight, len(X))
        validation = None
        if validation_split:
            seed_ = self.ir.train["seed"] if seed is None else seed
            keep, held = data.split(len(X), validation_split, seed_)
            validation = (X[held], y[held])
            X, y = X[keep], y[keep]
            sample_weight = None if sample_weight is None else sample_weight[keep]
        elif validation_data is not None:
            validation = as_arrays(self.ir, *validation_data, "<validation_data>")
        self.history = run_fit(
            self,
            X,
            y,
            validation,
            verbose,
            callbacks,
            sample_weight=sample_weight,
            adapt=adapt,
            class_weight=class_weight,
            initial_epoch=initial_epoch,
            resume=resume,
            epochs=epochs,
            batch=batch,
            seed=seed,
            shuffle=shuffle,
            early_stop=early_stop,
            metrics=metrics,
            schedule=schedule,
            clip=clip,
            precision=precision,
            compile=compile,
        )
        return self.history

    def _checkpoint_state(self, path, initial_epoch: int) -> dict | None:
        """fit's `resume_from`: the loop state of the checkpoint it names, or None."""
        if path is None:
            return None
        from .checkpoints import latest, read_checkpoint

        found = latest(path)
        if found is None:
            raise ValueError(f"no checkpoint in {path}")
        state = read_checkpoint(found, self.ir)
        if initial_epoch not in (0, state["epoch"]):
            raise ValueError(
                f"initial_epoch={initial_epoch}, but the checkpoint {found} is of epoch "
                f"{state['epoch']}; leave initial_epoch out"
            )
        return state

    def predict(self, X, batch: int | None = None) -> np.ndarray:
        """Outputs in evaluation mode, shaped (N, *output_shape): an output of (1) stays (N, 1),
        as in Keras. Probabilities for bce (sigmoid) and crossentropy (softmax over the last
        axis), whether the model ends in that activation or in logits: it is applied exactly
        once (§6). The raw outputs for every other loss."""
        from ..numerics import sigmoid_values, softmax_values
        from .arrays import as_arrays
        from .evaluation import predict_raw

        X, _ = as_arrays(self.ir, X)
        out = predict_raw(self, X, batch or self.ir.train["batch"])
        loss = self.ir.train["loss"]["name"]
        if loss == "bce":
            return sigmoid_values(out)
        if loss == "crossentropy":
            return softmax_values(out)
        return out

    def evaluate(self, X, y, batch: int | None = None) -> dict[str, float]:
        """{"loss": ..., NAME: ...} for the spec's loss and metrics, in evaluation mode."""
        from .arrays import as_arrays
        from .evaluation import evaluate_arrays

        X, y = as_arrays(self.ir, X, y)
        train = self.ir.train
        batch = batch or train["batch"]
        return evaluate_arrays(
            self, X, y, train["loss"], train["metrics"], batch, train.get("top_k")
        )

    def save(self, path) -> None:
        """Write every weight and running statistic to a safetensors file (atomically)."""
        from .weights import save_weights

        save_weights(path, self.ir, self.get_weights(), self.encoding)

    def load(self, path):
        """Load a safetensors file saved from this spec (by either backend); returns self.
        Raises SpecError naming the first mismatching tensor; warns if the spec's hash differs."""
        import warnings

        for note in self._load_file(path):
            warnings.warn(f"{note.file}: {note.message}", stacklevel=2)
        return self

    def _load_file(self, path) -> list:
        """Load a checked weight file; returns its warnings (Diagnostics) for the caller to show."""
        from .weights import load_weights_and_data

        tensors, notes, self.encoding = load_weights_and_data(path, self.ir)
        self.set_weights(tensors)
        return notes
