"""import-keras of sequence models (LANGUAGE.md §13): Embedding, Conv1D, the 1-D poolings,
LSTM, GRU, Bidirectional, MultiHeadAttention (self-attention, in a Functional chain) and
LayerNormalization over features. Keras is the oracle: each model is built here with random
weights, saved, imported, run by the NumPy backend and compared with keras.predict (1e-5).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import test_keras as tk

import stackspec

pytestmark = tk.pytestmark  # Keras 3.15's variables warn under NumPy 2: theirs, not ours


def text_model(keras):
    """Ids in: Embedding, same-padded Conv1D, pooling, a Bidirectional LSTM, a GRU, a same-padded
    average pooling, a global max pooling."""
    layers = keras.layers
    return keras.Sequential(
        [
            layers.Input(shape=(12,), dtype="int32"),
            layers.Embedding(20, 6),
            layers.Conv1D(8, 3, padding="same", activation="relu"),
            layers.MaxPooling1D(2),
            layers.Bidirectional(layers.LSTM(5, return_sequences=True)),
            layers.LayerNormalization(),
            layers.GRU(4, return_sequences=True),
            layers.AveragePooling1D(3, strides=1, padding="same"),
            layers.GlobalMaxPooling1D(),
            layers.Dense(3, activation="softmax"),
        ]
    )


def signal_model(keras):
    """(T, F) floats in: strided `same` and dilated convolutions, a Bidirectional GRU, an LSTM
    and a Bidirectional LSTM's last states, global average pooling."""
    layers = keras.layers
    return keras.Sequential(
        [
            layers.Input(shape=(9, 3)),
            layers.Conv1D(4, 3, strides=2, padding="same"),
            layers.Conv1D(5, 2, dilation_rate=2, activation="tanh", use_bias=False),
            layers.Bidirectional(layers.GRU(3, return_sequences=True)),
            layers.AveragePooling1D(2, strides=1),
            layers.LSTM(4, return_sequences=True),
            layers.Bidirectional(layers.LSTM(3)),
            layers.Dense(2),
        ]
    )


def gru_last_model(keras):
    layers = keras.layers
    return keras.Sequential(
        [
            layers.Input(shape=(7, 2)),
            layers.Bidirectional(layers.GRU(3)),
            layers.Dense(1),
        ]
    )


def attention_model(keras):
    """A Functional chain: self-attention (causal; then q=v=k without biases), layer norms,
    global average pooling over the steps."""
    layers = keras.layers
    x = inputs = keras.Input(shape=(6, 8))
    x = layers.Dense(8)(x)
    x = layers.MultiHeadAttention(2, 3)(x, x, use_causal_mask=True)
    x = layers.LayerNormalization(epsilon=1e-5)(x)
    x = layers.MultiHeadAttention(1, 4, use_bias=False)(x, x, x)
    x = layers.GlobalAveragePooling1D()(x)
    x = layers.Dense(2)(x)
    return keras.Model(inputs, x)


def lstm_extra(spec) -> int:
    """Our LSTM keeps torch's two biases where Keras has one: 4 * units more per direction."""
    return sum(
        4 * n.params["units"] * (2 if n.params["bidirectional"] else 1)
        for n in spec.ir.walk()
        if n.op == "lstm"
    )


def imported(build, tmp_path, seed: int):
    """The Keras model `build` makes, with random weights, saved and imported: (model, the spec
    file, the weight file)."""
    model = build(tk.needs_keras())
    tk.randomize(model, seed=seed)
    model.save(tmp_path / "m.keras")
    spec_path, weights = tmp_path / "m.stack", tmp_path / "m.safetensors"
    result = tk.run("import-keras", tmp_path / "m.keras", "--weights-out", weights, "-o", spec_path)
    assert result.exit_code == 0, result.output
    return model, spec_path, weights


@pytest.mark.parametrize("build", [text_model, signal_model, gru_last_model, attention_model])
def test_imported_sequence_models_predict_as_keras(build, tmp_path):
    model, spec_path, weights = imported(build, tmp_path, seed=3)
    assert tk.run("fmt", "--check", spec_path).exit_code == 0
    spec = stackspec.load(spec_path)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert spec.ir.param_count == trainable + lstm_extra(spec)
    ours = spec.compile("numpy")
    ours.load(weights)
    shape = model.input_shape[1:]
    rng = np.random.default_rng(1)
    if build is text_model:
        x = rng.integers(0, 20, (16, *shape)).astype(np.int32)
    else:
        x = rng.normal(0, 1.5, (16, *shape)).astype(np.float32)
    want = model.predict(x, verbose=0)
    got = ours.predict(x.astype(np.float32)).reshape(want.shape)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * max(1.0, np.abs(want).max()))


def test_the_attention_chain_becomes_attention_lines(tmp_path):
    keras = tk.needs_keras()
    attention_model(keras).save(tmp_path / "a.keras")
    result = tk.run("import-keras", tmp_path / "a.keras")
    assert result.exit_code == 0, result.output
    assert "attention 2 3 causal=true\n" in result.stdout
    assert "attention 1 4 bias=false\n" in result.stdout


def test_keras_equal_counts_where_layouts_agree(tmp_path):
    """GRU (reset_after=True), Conv1D, Embedding: our counts are Keras's exactly."""
    keras = tk.needs_keras()
    layers = keras.layers
    model = keras.Sequential(
        [
            layers.Input(shape=(5,)),
            layers.Embedding(9, 4),
            layers.Conv1D(3, 2),
            layers.Bidirectional(layers.GRU(2)),
        ]
    )
    model.save(tmp_path / "g.keras")
    result = tk.run("import-keras", tmp_path / "g.keras", "-o", tmp_path / "g.stack")
    assert result.exit_code == 0, result.output
    assert stackspec.load(tmp_path / "g.stack").ir.param_count == model.count_params()


# --- refusals ---------------------------------------------------------------------------------


SEQ = tk.layer("InputLayer", "input_layer", batch_shape=[None, 6, 3])


@pytest.mark.parametrize(
    "bad, message",
    [
        (tk.layer("GRU", "g", units=2, reset_after=False), "reset_after=False (Keras 2's GRU"),
        (tk.layer("LSTM", "l", units=2, go_backwards=True), "go_backwards=True has no"),
        (tk.layer("LSTM", "l", units=2, use_bias=False), "use_bias=False: stackspec's lstm"),
        (tk.layer("Conv1D", "c", filters=2, kernel_size=[3], padding="causal"), "'causal'"),
        (
            tk.layer("Conv1D", "c", filters=2, kernel_size=3, strides=2, padding="same"),
            "pads one end more",
        ),
        (
            tk.layer(
                "Bidirectional",
                "b",
                merge_mode="sum",
                layer={"class_name": "LSTM", "config": {"units": 2}},
            ),
            "merge_mode 'sum'",
        ),
        (
            tk.layer("MultiHeadAttention", "m", num_heads=2, key_dim=3, value_dim=4),
            "value_dim differs",
        ),
        (tk.layer("GlobalAveragePooling1D", "p", keepdims=True), "keepdims=True"),
        (tk.layer("MaxPooling1D", "p", data_format="channels_first"), "channels_first"),
    ],
)
def test_sequence_settings_stackspec_cannot_say_are_refused(tmp_path, bad, message):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(tk.config([SEQ, bad])))
    result = tk.run("import-keras", path)
    assert result.exit_code == 1
    assert f"layer '{bad['config']['name']}'" in result.output and message in result.output


def test_embedding_mask_zero_is_refused(tmp_path):
    ids = tk.layer("InputLayer", "input_layer", batch_shape=[None, 6])
    path = tmp_path / "config.json"
    emb = tk.layer("Embedding", "e", input_dim=5, output_dim=2, mask_zero=True)
    path.write_text(json.dumps(tk.config([ids, emb])))
    result = tk.run("import-keras", path)
    assert result.exit_code == 1 and "mask_zero=True" in result.output


def test_functional_branches_and_cross_attention_are_refused(tmp_path):
    keras = tk.needs_keras()
    layers = keras.layers
    x = inputs = keras.Input(shape=(4, 6))
    y = layers.Dense(6)(x)
    residual = keras.Model(inputs, layers.Add()([x, y]))
    residual.save(tmp_path / "r.keras")
    result = tk.run("import-keras", tmp_path / "r.keras")
    assert result.exit_code == 1
    assert "a branch or residual, which import-keras does not read" in result.output
    cross = keras.Model(inputs, layers.MultiHeadAttention(2, 3)(x, y))
    cross.save(tmp_path / "c.keras")
    result = tk.run("import-keras", tmp_path / "c.keras")
    assert result.exit_code == 1
    assert "(MultiHeadAttention) attends from 'dense" in result.output
    assert "cross-attention has no stackspec equivalent" in result.output


@pytest.mark.parametrize("build", [text_model, attention_model])
def test_sequence_round_trip(build, tmp_path):
    """import-keras then --emit keras: the emitted model predicts as the original Keras one."""
    model, spec_path, weights = imported(build, tmp_path, seed=7)
    back = tk.emitted(stackspec.load(spec_path), tmp_path, build.__name__).load(weights)
    rng = np.random.default_rng(2)
    shape = model.input_shape[1:]
    if build is text_model:
        x = rng.integers(0, 20, (8, *shape)).astype(np.int32)
    else:
        x = rng.normal(0, 1, (8, *shape)).astype(np.float32)
    want = model.predict(x, verbose=0)
    got = back.predict(x.astype(np.float32), verbose=0)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * max(1.0, np.abs(want).max()))
