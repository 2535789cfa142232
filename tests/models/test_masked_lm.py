"""The MaskedLM task API: from_preset, compile defaults, fit/evaluate/predict, save_to_preset."""

import keras
import numpy as np
import pytest

from mlm_cli.errors import BadInputError
from mlm_cli.models import BertMaskedLM, BertMaskedLMPreprocessor, MaskedLM
from mlm_cli.seeding import set_seed
from tests.support.corpus import sample_sentences


def test_compile_auto_defaults(tiny_model):
    tiny_model.compile()
    assert isinstance(tiny_model.optimizer, keras.optimizers.Adam)
    assert float(keras.ops.convert_to_numpy(tiny_model.optimizer.learning_rate)) == pytest.approx(5e-5)
    logits = np.random.default_rng(0).normal(size=(2, 3, 11)).astype("float32") * 3
    labels = np.array([[1, 4, 0], [10, 2, 7]])
    weights = np.array([[1, 1, 0], [1, 0, 0]], dtype="float32")
    reference = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="mean_with_sample_weight")
    ours = keras.ops.convert_to_numpy(tiny_model.loss(labels, logits, sample_weight=weights))
    assert ours == pytest.approx(float(keras.ops.convert_to_numpy(reference(labels, logits, sample_weight=weights))),
                                 rel=1e-6)
    tiny_model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    assert isinstance(tiny_model.optimizer, keras.optimizers.SGD)


def test_fit_on_raw_strings_lowers_masked_loss(tiny_model):
    set_seed(0)
    texts = sample_sentences(64)
    tiny_model.compile(optimizer=keras.optimizers.Adam(3e-3))
    before = tiny_model.evaluate(texts, batch_size=16, verbose=0, return_dict=True)["loss"]
    history = tiny_model.fit(texts, batch_size=16, epochs=6, verbose=0)
    after = tiny_model.evaluate(texts, batch_size=16, verbose=0, return_dict=True)["loss"]
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert after < before - 0.3
    assert "sparse_categorical_accuracy" in history.history


def test_fit_on_preprocessed_batches_without_preprocessor(tiny_model):
    set_seed(0)
    x, y, w = tiny_model.preprocessor(sample_sentences(32))
    bare = BertMaskedLM(tiny_model.backbone)
    assert bare.preprocessor is None
    bare.compile(optimizer=keras.optimizers.Adam(3e-3))
    history = bare.fit(x, y, sample_weight=w, batch_size=8, epochs=5, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_predict_returns_logits_at_masked_positions(tiny_model):
    logits = tiny_model.predict(["the model will train", "a mask"], verbose=0)
    assert logits.shape == (2, 6, tiny_model.backbone.vocabulary_size)
    assert logits.dtype == np.float32


def test_properties_and_save_reload(tiny_model, tmp_path):
    assert isinstance(tiny_model.preprocessor, BertMaskedLMPreprocessor)
    assert tiny_model.backbone.num_layers == 2
    tiny_model.save_to_preset(tmp_path / "p")
    for name in ["config.json", "task.json", "preprocessor.json", "tokenizer.json", "metadata.json",
                 "model.weights.h5", "task.weights.h5", "assets/tokenizer/vocabulary.txt"]:
        assert (tmp_path / "p" / name).is_file(), name
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging leftovers
    loaded = MaskedLM.from_preset(tmp_path / "p")
    batch, _, _ = tiny_model.preprocessor(["the model will train on data"])
    assert np.allclose(keras.ops.convert_to_numpy(loaded(batch)), keras.ops.convert_to_numpy(tiny_model(batch)),
                       atol=1e-6)


def test_save_refuses_to_overwrite_without_flag(tiny_model, tmp_path):
    target = tmp_path / "p"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(BadInputError, match="already exists"):
        tiny_model.save_to_preset(target)
    assert (target / "keep.txt").read_text() == "mine"
    tiny_model.save_to_preset(target, overwrite=True)
    assert not (target / "keep.txt").exists() and (target / "config.json").exists()


def test_from_preset_overrides_and_fresh_weights(keras_hub_preset):
    model = MaskedLM.from_preset(keras_hub_preset, sequence_length=16, dropout=0.0, mask_selection_rate=0.3, seed=3)
    assert model.preprocessor.sequence_length == 16
    assert model.backbone.dropout == 0.0
    assert model.preprocessor.mask_selection_rate == 0.3
    trained = MaskedLM.from_preset(keras_hub_preset)
    fresh = BertMaskedLM.from_preset(keras_hub_preset, load_weights=False)
    a = keras.ops.convert_to_numpy(trained.backbone.token_embedding.embeddings)
    b = keras.ops.convert_to_numpy(fresh.backbone.token_embedding.embeddings)
    assert a.shape == b.shape and not np.allclose(a, b)
    with pytest.raises(TypeError, match="unexpected from_preset arguments"):
        MaskedLM.from_preset(keras_hub_preset, hidden_dim=8)


def test_preprocessor_from_preset(keras_hub_preset):
    preprocessor = BertMaskedLMPreprocessor.from_preset(keras_hub_preset, sequence_length=12)
    x, y, w = preprocessor(["the first word", "two words"])
    assert x["token_ids"].shape == (2, 12)
    assert x["token_ids"].dtype == np.int32 and x["padding_mask"].dtype == bool
    assert x["mask_positions"].shape == y.shape == w.shape == (2, 6)
    single, _, _ = preprocessor("the first word")
    assert single["token_ids"].shape == (12,)
