"""extend_vocabulary: whole words appended to a WordPiece tokenizer, embedding and head rows grown as their pieces'
mean; the result loads in keras_hub and, exported, in transformers."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from mlm_cli.models import BertTokenizer, ESMBackbone, ESMMaskedPLM, ESMMaskedPLMPreprocessor, ESMTokenizer, MaskedLM
from mlm_cli.models.vocabulary_extension import check_extendable, extend_vocabulary
from tests.family_sizes import TINY_SIZES
from tests.models.family_checks import (
    assert_keras_hub_reads_extended_preset,
    assert_transformers_reads_export,
    logits,
    perturb_weights,
)
from tests.support.corpus import tiny_vocabulary

NEW_WORDS = ["kubectl", "systemd", "grep"]  # each several pieces in the tiny vocabulary
PLAIN_TEXTS = ["the model will train on data, then mask a token!", "a word of the day"]
TEXTS_WITH_NEW_WORDS = ["kubectl and grep were used by systemd", "Systemd, GREP: the kubectl-like way"]


@pytest.fixture()
def varied_model(tiny_model):
    """The tiny model with every weight (output bias included) moved away from its initial value."""
    perturb_weights(tiny_model.weights, seed=5)
    return tiny_model


@pytest.mark.run_once
@pytest.mark.parametrize("normalization", ["keras_hub", "transformers"])
def test_added_words_are_one_token_and_other_text_keeps_its_ids(normalization):
    tokenizer = BertTokenizer(vocabulary=tiny_vocabulary(), lowercase=True, normalization=normalization)
    extended = tokenizer.with_added_words(NEW_WORDS)
    size = tokenizer.vocabulary_size()
    assert extended.vocabulary_size() == size + len(NEW_WORDS)
    assert extended.get_vocabulary()[size:] == NEW_WORDS
    assert [extended(word).tolist() for word in ["Kubectl", "SYSTEMD", "grep"]] == [[size], [size + 1], [size + 2]]
    for text in PLAIN_TEXTS:
        assert extended(text).tolist() == tokenizer(text).tolist()
    # The training pipeline's batch route (word cache, joined documents) agrees with `tokenize`.
    flat, offsets = extended.encoder.encode_batch_flat(TEXTS_WITH_NEW_WORDS + PLAIN_TEXTS)
    for index, text in enumerate(TEXTS_WITH_NEW_WORDS + PLAIN_TEXTS):
        assert flat[offsets[index]:offsets[index + 1]].tolist() == extended(text).tolist()
    assert size in flat.tolist() and size + 1 in flat.tolist()


@pytest.mark.run_once
def test_words_already_known_or_not_single_normalised_words_are_refused():
    tokenizer = BertTokenizer(vocabulary=tiny_vocabulary(), lowercase=True)
    for words, problem in [(["model"], "already in the vocabulary"), (["grep", "grep"], "already in the vocabulary"),
                           (["Grep"], "not one normalised word"), (["grep it"], "not one normalised word")]:
        with pytest.raises(ValueError, match=problem):
            tokenizer.with_added_words(words)


def test_new_rows_are_the_mean_of_the_replaced_pieces(varied_model):
    tokenizer = varied_model.preprocessor.tokenizer
    pieces = tokenizer.word_piece_ids(NEW_WORDS)
    assert all(len(ids) >= 2 for ids in pieces)
    extended = extend_vocabulary(varied_model, NEW_WORDS)
    size = tokenizer.vocabulary_size()

    def array(variable):
        return keras.ops.convert_to_numpy(variable)

    old_table, new_table = array(varied_model.backbone.token_embedding.embeddings), array(
        extended.backbone.token_embedding.embeddings)
    old_bias, new_bias = array(varied_model.masked_lm_head.output_bias), array(extended.masked_lm_head.output_bias)
    assert new_table.shape == (size + 3, old_table.shape[1]) and extended.backbone.vocabulary_size == size + 3
    np.testing.assert_array_equal(new_table[:size], old_table)
    np.testing.assert_array_equal(new_bias[:size], old_bias)
    for offset, ids in enumerate(pieces):
        np.testing.assert_allclose(new_table[size + offset], old_table[ids].mean(axis=0), rtol=1e-6)
        np.testing.assert_allclose(new_bias[size + offset], old_bias[ids].mean(), rtol=1e-6)
    # The head projects with the grown table (tied), and masking draws random tokens from the larger vocabulary.
    assert extended.masked_lm_head.token_embedding is extended.backbone.token_embedding
    assert extended.preprocessor.masker.vocabulary_size == size + 3


def test_logits_of_text_without_new_words_are_unchanged(varied_model):
    extended = extend_vocabulary(varied_model, NEW_WORDS)
    x, _, _ = varied_model.preprocessor(PLAIN_TEXTS)
    x_extended, _, _ = extended.preprocessor(PLAIN_TEXTS)
    np.testing.assert_array_equal(x_extended["token_ids"], x["token_ids"])
    before, after = logits(varied_model, x), logits(extended, x)
    assert after.shape[-1] == before.shape[-1] + len(NEW_WORDS)
    assert np.abs(after[..., :before.shape[-1]] - before).max() <= 1e-5


def test_extended_preset_loads_in_keras_hub_with_equal_ids_and_logits(varied_model, tmp_path):
    extended = extend_vocabulary(varied_model, NEW_WORDS)
    assert_keras_hub_reads_extended_preset(extended, TEXTS_WITH_NEW_WORDS + PLAIN_TEXTS, tmp_path / "extended")


def test_extended_export_loads_in_transformers_with_equal_ids_and_logits(tiny_transformers_mlm, tmp_path,
                                                                          monkeypatch):
    from mlm_cli.models.convert.transformers_checkpoint import export_transformers

    monkeypatch.setenv("MLM_CACHE_DIR", str(tmp_path / "cache"))
    model = MaskedLM.from_preset(tiny_transformers_mlm)  # transformers' normalisation
    extended = extend_vocabulary(model, NEW_WORDS)
    export_transformers(extended, tmp_path / "hf")
    assert_transformers_reads_export(extended, tmp_path / "hf", TEXTS_WITH_NEW_WORDS + PLAIN_TEXTS,
                                     TEXTS_WITH_NEW_WORDS + PLAIN_TEXTS, ("BertForMaskedLM", "BertTokenizer"))


def test_a_tokenizer_without_words_is_refused_naming_the_family_and_what_works():
    vocabulary = ["<pad>", "<cls>", "<eos>", "<unk>", "L", "A", "G", "V", "<mask>"]
    tokenizer = ESMTokenizer(vocabulary=vocabulary)
    backbone = ESMBackbone(vocabulary_size=len(vocabulary), **TINY_SIZES["esm"])
    model = ESMMaskedPLM(backbone, preprocessor=ESMMaskedPLMPreprocessor(tokenizer, sequence_length=8))
    with pytest.raises(ValueError, match=r"^esm models cannot add whole words.*WordPiece families: bert, distil_bert"):
        check_extendable(model)
    with pytest.raises(ValueError, match="esm models"):
        extend_vocabulary(model, ["LAG"])


@pytest.mark.parametrize("family", ["distil_bert", "roformer_v2"])
def test_every_wordpiece_family_grows_its_rows_and_keeps_its_logits(family):
    from mlm_cli.models.preset.registry import FAMILIES
    from tests.models.family_checks import build_masked_lm

    spec = FAMILIES[family]
    task_class = spec.mlm_class(spec.masked_lm)
    tokenizer = task_class.preprocessor_cls.tokenizer_cls(vocabulary=tiny_vocabulary(), lowercase=True)
    model = build_masked_lm(task_class, tokenizer, TINY_SIZES[family], sequence_length=24, mask_selection_length=6)
    perturb_weights(model.weights, seed=9)
    extended = extend_vocabulary(model, NEW_WORDS)
    size = tokenizer.vocabulary_size()
    table = keras.ops.convert_to_numpy(extended.backbone.token_embedding.embeddings)
    old_table = keras.ops.convert_to_numpy(model.backbone.token_embedding.embeddings)
    np.testing.assert_allclose(table[size], old_table[tokenizer.word_piece_ids(["kubectl"])[0]].mean(axis=0),
                               rtol=1e-6)
    x, _, _ = model.preprocessor(PLAIN_TEXTS)
    assert np.abs(logits(extended, x)[..., :size] - logits(model, x)).max() <= 1e-5
    assert extended.preprocessor.tokenizer("kubectl").tolist() == [size]
