"""Keras in and out (issue 13): `import-keras` and `compile --emit keras`.

Models are built with keras 3 on its torch backend (KERAS_BACKEND=torch, set before keras is
imported), given random weights (batchnorm's moving statistics too), saved as `.keras`, imported,
and run by the NumPy backend: parameter counts equal, predictions within 1e-5 of Keras's. The
other way, the emitted Keras source loaded with a stackspec weight file predicts as the NumPy
backend does. The refusals need neither keras nor h5py: their config.json is written by hand.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import SPECS, deepest, every_layer_specs, example_inputs, varied_weights

import stackspec
from stackspec.backends.keras import layers as keras_layers
from stackspec.backends.keras.converters import LAYERS as KERAS_CLASSES
from stackspec.backends.keras.importer import fold_repeats
from stackspec.backends.keras.layers import LAYER_FUNCTIONS, Unsupported
from stackspec.cli import main
from stackspec.layers import LAYERS, STRUCTURAL
from stackspec.limits import DEPTH_CEILING, Limits
from stackspec.numerics import sigmoid_values, softmax_values

os.environ["KERAS_BACKEND"] = "torch"  # never tensorflow; must precede the first keras import
# Keras 3.15's variables warn under NumPy 2 (`__array__` without `copy`): theirs, not ours.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def needs_keras():
    pytest.importorskip("torch", reason="keras runs on its torch backend here")
    pytest.importorskip("h5py", reason="h5py (the keras extra) is not installed")
    return pytest.importorskip("keras", reason="keras is not installed (make test installs it)")


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


# --- the registry ---------------------------------------------------------------------------


def test_every_registry_key_has_a_keras_emitter():
    missing = [key for key in (*LAYERS, *STRUCTURAL) if key not in LAYER_FUNCTIONS]
    assert not missing, f"backends/keras/layers.py has no function for {missing}"


def test_keras_classes_are_functions_named_as_the_class():
    assert {"Dense", "Conv2D", "BatchNormalization", "Flatten", "Normalization"} <= set(
        KERAS_CLASSES
    )
    assert all(name[0].isupper() for name in KERAS_CLASSES)


def test_fold_repeats_writes_the_lessons_block_once():
    lines = ["dense 1024 relu", "dropout 0.3", "batchnorm"] * 3 + ["dense 1"]
    assert fold_repeats(lines) == [
        "repeat 3 {",
        "  dense 1024 relu | dropout 0.3 | batchnorm",
        "}",
        "dense 1",
    ]


# --- refusals, from hand-written configs ------------------------------------------------------


def config(layers: list[dict], cls: str = "Sequential") -> dict:
    return {"class_name": cls, "config": {"name": "m", "layers": layers}}


def layer(cls: str, name: str, **cfg) -> dict:
    return {"class_name": cls, "config": {"name": name, **cfg}}


INPUT = layer("InputLayer", "input_layer", batch_shape=[None, 4])


def test_an_unsupported_layer_is_an_error_naming_it(tmp_path):
    path = tmp_path / "config.json"
    rnn = layer("SimpleRNN", "rnn_1", units=3)
    path.write_text(json.dumps(config([INPUT, layer("Dense", "dense", units=2), rnn])))
    result = run("import-keras", path, "-o", tmp_path / "m.stack")
    assert result.exit_code == 1
    assert f"error: {path}: layer 'rnn_1' (SimpleRNN) has no stackspec equivalent" in result.output
    assert not (tmp_path / "m.stack").exists()


def test_a_subclassed_model_and_a_functional_graph_are_refused(tmp_path):
    """Functional chains are read (test_keras_sequences.py); other graphs and classes are not."""
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config([INPUT], cls="MyModel")))
    result = run("import-keras", path)
    assert result.exit_code == 1
    assert "a MyModel model; import-keras reads keras.Sequential models and Functional chains" in (
        result.output
    )
    path.write_text(json.dumps(config([INPUT], cls="Functional")))
    result = run("import-keras", path)
    assert result.exit_code == 1
    assert "a Functional model with several inputs or outputs" in result.output


@pytest.mark.parametrize(
    "bad, message",
    [
        (
            layer("Conv2D", "c", filters=2, kernel_size=[2, 2], strides=[2, 2], padding="same"),
            "padding='same' pads one side more here",
        ),
        (layer("Dense", "d", units=2), "dense expects a flat (features) or (T,F) sequence input"),
        (layer("Softmax", "s", axis=-1), "softmax is over the last axis"),
        (layer("Conv2D", "c", filters=2, kernel_size=3, dilation_rate=2), "dilation_rate"),
    ],
)
def test_what_stackspec_cannot_say_is_refused_with_the_reason(tmp_path, bad, message):
    image = layer("InputLayer", "input_layer", batch_shape=[None, 5, 5, 3])
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config([image, bad])))
    result = run("import-keras", path)
    assert result.exit_code == 1
    assert f"layer '{bad['config']['name']}'" in result.output and message in result.output


def test_weights_need_a_keras_file(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config([INPUT, layer("Dense", "d", units=2)])))
    result = run("import-keras", path, "--weights-out", tmp_path / "w.safetensors")
    assert result.exit_code == 1 and "a config.json holds no weights" in result.output
    ok = run("import-keras", path)
    assert ok.exit_code == 0 and "input 4\n\ndense 2\n" in ok.stdout


def test_reading_weights_without_h5py_names_the_extra(tmp_path, monkeypatch):
    path = tmp_path / "m.keras"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("config.json", json.dumps(config([INPUT, layer("Dense", "d", units=2)])))
        z.writestr("model.weights.h5", b"")
    monkeypatch.setitem(sys.modules, "h5py", None)
    result = run("import-keras", path, "--weights-out", tmp_path / "w.safetensors")
    assert result.exit_code == 1 and "pip install 'stackspec[keras]'" in result.output
    assert not (tmp_path / "w.safetensors").exists()


# --- import: Keras models in ------------------------------------------------------------------


def lesson_model(keras):
    """The lesson's model: Dense 1024 relu, Dropout 0.3, BatchNormalization, three times."""
    layers = keras.layers
    stack = [layers.Input(shape=(11,))]
    for _ in range(3):
        stack += [
            layers.Dense(1024, activation="relu"),
            layers.Dropout(0.3),
            layers.BatchNormalization(),
        ]
    model = keras.Sequential([*stack, layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.001), loss="mae")
    return model


def cnn_model(keras):
    """channels_last images, `same` padding, pooling, Flatten then per-feature layers: every
    place where the (H, W, C) and (C, H, W) orders differ."""
    layers = keras.layers
    model = keras.Sequential(
        [
            layers.Input(shape=(7, 7, 2)),
            layers.Conv2D(4, 3, strides=2, padding="same", activation="relu"),
            layers.BatchNormalization(momentum=0.9, epsilon=1e-5),
            layers.Conv2D(6, (2, 2), padding="same", kernel_initializer="he_normal"),
            layers.LeakyReLU(negative_slope=0.1),
            layers.AveragePooling2D(2),
            layers.MaxPooling2D(pool_size=3, strides=1, padding="same"),
            layers.Flatten(),
            layers.Dropout(0.2),
            layers.BatchNormalization(),
            layers.Dense(8, activation="elu"),
            layers.LayerNormalization(),
            layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def gap_model(keras):
    layers = keras.layers
    norm = layers.Normalization(axis=-1)
    model = keras.Sequential(
        [
            layers.Input(shape=(6, 5, 3)),
            norm,
            layers.Conv2D(5, (3, 2), use_bias=False),
            layers.ReLU(),
            layers.GlobalAveragePooling2D(),
            layers.Dense(4, activation="leaky_relu"),
            layers.Activation("gelu"),
            layers.Dense(2),
        ]
    )
    norm.adapt(np.random.default_rng(3).normal(2, 3, (40, 6, 5, 3)).astype(np.float32))
    return model


def second_edition_model(keras):
    """The layers both sides gained with LANGUAGE.md §13: PReLU per channel and per feature,
    UpSampling2D, GlobalMaxPooling2D, ReLU(max_value=6) and the new activations."""
    layers = keras.layers
    return keras.Sequential(
        [
            layers.Input(shape=(5, 4, 3)),
            layers.Conv2D(4, 3, padding="same"),
            layers.PReLU(shared_axes=[1, 2]),
            layers.UpSampling2D(2),
            layers.GlobalMaxPooling2D(),
            layers.Dense(6, activation="hard_sigmoid"),
            layers.PReLU(),
            layers.ReLU(max_value=6),
            layers.Dense(5, activation="mish"),
            layers.Activation("hard_silu"),
            layers.Dense(3, activation="log_softmax"),
        ]
    )


def randomize(model, seed=0):
    rng = np.random.default_rng(seed)
    for lay in model.layers:
        values = []
        for w in lay.weights:
            shape = tuple(w.shape)
            if "variance" in w.path or "count" in w.path:
                values.append(np.asarray(w.numpy()))  # an adapted Normalization keeps its own
                if "moving_variance" in w.path:
                    values[-1] = rng.uniform(0.5, 2.0, shape).astype(np.float32)
            else:
                values.append(rng.normal(0, 0.5, shape).astype(np.float32))
        lay.set_weights(values)


@pytest.mark.parametrize("build", [lesson_model, cnn_model, gap_model, second_edition_model])
def test_imported_keras_models_predict_as_keras(build, tmp_path):
    keras = needs_keras()
    model = build(keras)
    randomize(model)
    model.save(tmp_path / "m.keras")
    spec_path, weights = tmp_path / "m.stack", tmp_path / "m.safetensors"
    result = run("import-keras", tmp_path / "m.keras", "--weights-out", weights, "-o", spec_path)
    assert result.exit_code == 0, result.output
    assert run("fmt", "--check", spec_path).exit_code == 0
    assert run("check", spec_path).exit_code == 0
    spec = stackspec.load(spec_path)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert spec.ir.param_count == trainable
    if build is not gap_model:  # an adapted Normalization has a count variable besides
        assert spec.ir.param_count + spec.ir.state_count == model.count_params()
    ours = spec.compile("numpy")
    ours.load(weights)
    shape = model.input_shape[1:]
    x = np.random.default_rng(1).normal(0, 1.5, (16, *shape)).astype(np.float32)
    want = model.predict(x, verbose=0)
    x_ours = x.transpose(0, 3, 1, 2) if len(shape) == 3 else x
    got = ours.predict(x_ours).reshape(want.shape)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())


def test_the_lesson_model_becomes_the_lessons_spec(tmp_path):
    keras = needs_keras()
    lesson_model(keras).save(tmp_path / "lesson.keras")
    result = run("import-keras", tmp_path / "lesson.keras")
    assert result.exit_code == 0, result.output
    body = result.stdout.split("input 11\n", 1)[1]
    assert body == (
        "\nrepeat 3 {\n  dense 1024 relu | dropout 0.3 | batchnorm\n}\ndense 1\n\n"
        "train {\n  loss mae\n  optimizer adam lr=0.001\n}\n"
    )
    with zipfile.ZipFile(tmp_path / "lesson.keras") as z:
        (tmp_path / "config.json").write_bytes(z.read("config.json"))
    from_config = run("import-keras", tmp_path / "config.json")
    assert from_config.stdout.split("input 11\n", 1)[1] == body


# --- emit: stackspec models out ---------------------------------------------------------------


def test_posembed_is_a_layer_the_emitted_source_defines_and_embedding_is_keras_own():
    from stackspec.backends.keras.source import keras_source

    source = keras_source(stackspec.parse("input 4x3\nposembed\n"))
    assert "class PositionEmbedding(keras.layers.Layer):" in source
    assert "x = PositionEmbedding(name='n0_position_embedding')(x)" in source
    plain = keras_source(stackspec.parse("input 5\nembedding 7 3\nflatten\ndense 1\n"))
    assert "keras.layers.Embedding(7, 3, name='n0_embedding')" in plain
    assert "PositionEmbedding" not in plain  # defined only where used


def emitted(spec, tmp_path, name: str):
    from stackspec.backends.keras.source import keras_source

    path = tmp_path / f"{name}.py"
    path.write_text(keras_source(spec))
    module_spec = importlib.util.spec_from_file_location(f"emitted_{name}", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def test_emitted_keras_models_predict_as_stackspec(tmp_path):
    """Every spec and registry example, residuals (nested to the deepest allowed) and padded
    pools included: the inputs are normal, so max pooling meets negative values at the padding."""
    needs_keras()
    specs = {p.stem: stackspec.load(p) for p in sorted(SPECS.glob("*.stack"))}
    specs |= {name: stackspec.parse(text) for name, text in every_layer_specs().items()}
    specs["deepest"] = stackspec.parse(deepest(), limits=Limits(depth=DEPTH_CEILING))
    for i, (name, spec) in enumerate(specs.items()):
        model = spec.compile("numpy")
        model.set_weights(varied_weights(spec))
        model.save(tmp_path / f"{i}.safetensors")
        x = example_inputs(spec.ir, 5, 1, 1.5)
        out = model._predict_batch(x)
        fused = {"softmax": softmax_values, "sigmoid": sigmoid_values}.get(
            spec.ir.fused_activation()
        )
        want = fused(out) if fused else out
        got = emitted(spec, tmp_path, str(i)).load(tmp_path / f"{i}.safetensors").predict(x, 0)
        scale = max(1.0, np.abs(want).max())
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * scale, err_msg=name)


def test_residuals_and_padded_pools_are_functional_steps():
    spec = stackspec.parse(
        "input 1x5x5\nresidual {\n  maxpool2d 3 stride=1 padding=1\n  avgpool2d 3 stride=1 "
        "padding=1\n}\nflatten\ndense 1\n"
    )
    from stackspec.backends.keras.source import keras_source

    source = keras_source(spec)
    assert "skip_0 = x\n    # 0.0: maxpool2d 3 stride=1 padding=1\n" in source
    assert "x = keras.ops.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=-np.inf)" in (
        source
    )
    assert "x = pool(pad(x)) / pool(pad(keras.ops.ones_like(x)))" in source
    assert "x = keras.layers.Add(name='n0_add')([skip_0, x])" in source
    assert source == keras_source(spec)  # deterministic


def test_emitting_what_keras_cannot_say_is_an_error_naming_the_layer(monkeypatch):
    def refuse(node):
        raise Unsupported("no Keras layer computes it here")

    monkeypatch.setitem(keras_layers.LAYER_FUNCTIONS, "layernorm", refuse)
    result = run("compile", SPECS / "residual_mlp.stack", "--emit", "keras")
    assert result.exit_code == 1
    assert "--emit keras: layer 1.0: layernorm: no Keras layer computes it here" in result.output


def test_keras_round_trip(tmp_path):
    """import-keras then --emit keras: the same predictions as the original Keras model."""
    keras = needs_keras()
    model = cnn_model(keras)
    randomize(model, seed=5)
    model.save(tmp_path / "m.keras")
    weights = tmp_path / "w.safetensors"
    spec_path = tmp_path / "m.stack"
    assert run("import-keras", tmp_path / "m.keras", "--weights-out", weights, "-o", spec_path)
    back = emitted(stackspec.load(spec_path), tmp_path, "back").load(weights)
    x = np.random.default_rng(2).normal(0, 1, (8, 7, 7, 2)).astype(np.float32)
    want = model.predict(x, verbose=0)
    got = back.predict(x.transpose(0, 3, 1, 2), verbose=0)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def emitted_sequence_layer(call: str, tmp_path):
    """The one weighted Keras layer that `call` on a 4x6 sequence emits, and our node, after
    checking that the emitted model (weights converted by its load) predicts as NumPy's."""
    spec = stackspec.parse(f"input 4x6\n{call}\n")
    model = spec.compile("numpy")
    model.set_weights(varied_weights(spec))
    model.save(tmp_path / "w.safetensors")
    keras_model = emitted(spec, tmp_path, "sequence").load(tmp_path / "w.safetensors")
    x = np.random.default_rng(1).normal(0, 1.5, (5, 4, 6)).astype(np.float32)
    got = keras_model.predict(x, verbose=0)
    np.testing.assert_allclose(got, model._predict_batch(x), rtol=1e-5, atol=1e-5)
    (layer,) = [k for k in keras_model.layers if k.weights]
    return layer, spec.ir.nodes[0]


@pytest.mark.parametrize(
    "call",
    ["attention 2 3", "attention 2 3 causal=true", "attention 1 2 causal=true bias=false"],
)
def test_attention_counts_and_outputs_equal_keras_multi_head_attention(call, tmp_path):
    """Our count is MultiHeadAttention(heads, key_dim)'s (3 (F h k + h k) + h k F + F), and the
    emitted model predicts as the NumPy backend, causal too."""
    needs_keras()
    layer, node = emitted_sequence_layer(call, tmp_path)
    assert layer.count_params() == node.param_count


@pytest.mark.parametrize("call", ["batchnorm", "batchnorm affine=false", "prelu"])
def test_sequence_batchnorm_and_prelu_counts_and_outputs_equal_keras(call, tmp_path):
    """On (T,F): BatchNormalization(axis=-1) and PReLU(shared_axes=[1]) hold per-feature weights,
    as ours (Keras's count includes the running statistics), and predict as the NumPy backend."""
    needs_keras()
    layer, node = emitted_sequence_layer(call, tmp_path)
    assert layer.count_params() == node.param_count + node.state_count
