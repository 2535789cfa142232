"""extend_vocabulary on unigram SentencePiece families (ALBERT, DeBERTaV3, FNet): words appended as "▁word" pieces
after every old id, rows grown as their pieces' mean; the result loads in keras_hub and, exported, in transformers.
XLM-R and BPE models are refused."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from mlm_cli.models import (
    AlbertMaskedLM,
    AlbertTokenizer,
    DebertaV3MaskedLM,
    DebertaV3Tokenizer,
    FNetMaskedLM,
    FNetTokenizer,
    XLMRobertaTokenizer,
)
from mlm_cli.models.tokenizers.sentencepiece_model_file import CONTROL, NORMAL, read_sentencepiece_model
from mlm_cli.models.vocabulary_extension import check_extendable, extend_vocabulary
from tests.family_sizes import TINY_SIZES
from tests.models.family_checks import (
    assert_keras_hub_reads_extended_preset,
    assert_transformers_reads_export,
    build_masked_lm,
    logits,
    perturb_weights,
)
from tests.models.sentencepiece_fixtures import ALBERT_SENTENCES, albert_proto, deberta_v3_proto, xlm_roberta_proto

NEW_WORDS = ["kubectl", "systemd", "grep"]  # several pieces each in the tiny model
PLAIN_TEXTS = ALBERT_SENTENCES + ["the model will train on data, then mask a token!", "a word of the day"]
TEXTS_WITH_NEW_WORDS = ["kubectl and grep were used by systemd", "systemd, grep: the kubectl way"]


@pytest.fixture(scope="module")
def proto() -> bytes:
    return albert_proto()


FAMILIES = {AlbertMaskedLM: "albert", DebertaV3MaskedLM: "deberta_v3", FNetMaskedLM: "f_net"}


def tokenizers(proto: bytes) -> list:
    return [AlbertTokenizer(proto=proto), AlbertTokenizer(proto=proto, normalization="transformers"),
            FNetTokenizer(proto=proto), DebertaV3Tokenizer(proto=deberta_v3_proto()),
            DebertaV3Tokenizer(proto=deberta_v3_proto(), normalization="transformers")]


def family_proto(task_class, proto: bytes) -> bytes:
    return deberta_v3_proto() if task_class is DebertaV3MaskedLM else proto


@pytest.mark.run_once
def test_added_words_are_one_token_and_other_text_keeps_its_ids(proto):
    for tokenizer in tokenizers(proto):
        extended = tokenizer.with_added_words(NEW_WORDS)
        size = tokenizer.vocabulary_size()
        assert extended.vocabulary_size() == size + len(NEW_WORDS)
        assert extended.get_vocabulary()[:size] == tokenizer.get_vocabulary()
        assert extended.mask_token_id == tokenizer.mask_token_id and extended.special_token_ids == \
            tokenizer.special_token_ids
        assert extended.get_vocabulary()[size:] == ["\u2581" + word for word in NEW_WORDS]
        assert extended.word_piece_ids(NEW_WORDS) == [[size], [size + 1], [size + 2]]
        assert extended("systemd grep kubectl").tolist() == [size + 1, size + 2, size]
        for text in PLAIN_TEXTS:
            assert extended(text).tolist() == tokenizer(text).tolist(), (tokenizer.normalization, text)
        flat, offsets = extended.encoder.encode_batch_flat(TEXTS_WITH_NEW_WORDS + PLAIN_TEXTS)
        for index, text in enumerate(TEXTS_WITH_NEW_WORDS + PLAIN_TEXTS):
            assert flat[offsets[index]:offsets[index + 1]].tolist() == extended(text).tolist()
        assert extended.detokenize(extended("kubectl and grep")) == "kubectl and grep"
    # Transformers' normalisation lowercases: the word found in "Kubectl" is the added one.
    lowercasing = AlbertTokenizer(proto=proto, normalization="transformers")
    assert lowercasing.with_added_words(["kubectl"])("Kubectl").tolist() == [lowercasing.vocabulary_size()]


@pytest.mark.run_once
def test_the_model_file_keeps_its_bytes_and_gains_normal_pieces_that_beat_their_splits(proto):
    tokenizer = AlbertTokenizer(proto=proto)
    extended = tokenizer.with_added_words(NEW_WORDS)
    assert extended.proto.startswith(proto)
    pieces = read_sentencepiece_model(extended.proto).pieces
    old = read_sentencepiece_model(proto).pieces
    assert pieces[:len(old)] == old
    top = max(piece.score for piece in old if piece.type == NORMAL)
    for piece, ids in zip(pieces[len(old):], tokenizer.word_piece_ids(NEW_WORDS), strict=True):
        split = sum(old[i].score for i in ids)
        assert piece.type == NORMAL and split < piece.score <= top


@pytest.mark.run_once
def test_words_known_not_single_normalised_words_or_unknown_are_refused(proto):
    tokenizer = AlbertTokenizer(proto=proto)
    known = next(piece[1:] for piece in tokenizer.get_vocabulary() if piece.startswith("\u2581") and len(piece) > 3)
    for words, problem in [([known], "already in the vocabulary"), (["grep", "grep"], "already in the vocabulary"),
                           (["grep it"], "not one normalised word"), (["ｇrep"], "not one normalised word"),
                           (["grep\u4e00\u4e01"], "do(es)? not know|characters the model")]:
        with pytest.raises(ValueError, match=problem):
            tokenizer.with_added_words(words)


@pytest.mark.run_once
def test_deberta_v3_s_appended_mask_becomes_a_control_piece_at_its_id():
    tokenizer = DebertaV3Tokenizer(proto=deberta_v3_proto())
    extended = tokenizer.with_added_words(NEW_WORDS)
    pieces = read_sentencepiece_model(extended.proto).pieces
    assert pieces[tokenizer.mask_token_id].text == "[MASK]" and pieces[tokenizer.mask_token_id].type == CONTROL
    assert extended.get_vocabulary()[tokenizer.mask_token_id + 1:] == ["\u2581" + word for word in NEW_WORDS]
    assert extended("a [MASK] b").tolist() == tokenizer("a [MASK] b").tolist()  # no [MASK] id from raw text
    assert extended.detokenize([extended.mask_token_id, tokenizer.vocabulary_size()]) == "kubectl"


@pytest.mark.run_once
def test_xlm_roberta_and_bpe_models_are_refused():
    from mlm_cli.models.tokenizers.sentencepiece_words import check_unigram

    bpe = FNetTokenizer.train_on(PLAIN_TEXTS * 3, vocabulary_size=150, model_type="bpe", hard_vocab_limit=False)
    refused = [XLMRobertaTokenizer(proto=xlm_roberta_proto(PLAIN_TEXTS)), bpe]
    assert [tokenizer.adds_whole_words for tokenizer in refused] == [False, False]
    for tokenizer in refused:
        with pytest.raises(ValueError, match="cannot add whole words"):
            tokenizer.with_added_words(["kubectl"])
    with pytest.raises(ValueError, match="only to unigram"):
        check_unigram(read_sentencepiece_model(bpe.proto))


def tiny_model(task_class, tokenizer, **settings):
    sizes = {**TINY_SIZES[FAMILIES[task_class]], **settings}
    model = build_masked_lm(task_class, tokenizer, sizes, sequence_length=24, mask_selection_length=6)
    perturb_weights(model.weights, seed=5)
    return model


@pytest.mark.parametrize("task_class", list(FAMILIES))
def test_rows_are_the_pieces_mean_logits_stay_and_keras_hub_reads_the_preset(proto, task_class, tmp_path):
    tokenizer = task_class.preprocessor_cls.tokenizer_cls(proto=family_proto(task_class, proto))
    model = tiny_model(task_class, tokenizer)
    pieces = tokenizer.word_piece_ids(NEW_WORDS)
    assert all(len(ids) >= 2 for ids in pieces)
    extended = extend_vocabulary(model, NEW_WORDS)
    size = tokenizer.vocabulary_size()
    old_table = keras.ops.convert_to_numpy(model.backbone.token_embedding.embeddings)
    new_table = keras.ops.convert_to_numpy(extended.backbone.token_embedding.embeddings)
    assert new_table.shape == (size + 3, old_table.shape[1]) and extended.backbone.vocabulary_size == size + 3
    np.testing.assert_array_equal(new_table[:size], old_table)
    for offset, ids in enumerate(pieces):
        np.testing.assert_allclose(new_table[size + offset], old_table[ids].mean(axis=0), rtol=1e-6)
    assert extended.preprocessor.masker.vocabulary_size == size + 3

    x, _, _ = model.preprocessor(PLAIN_TEXTS[-4:])
    packed, _ = extended.preprocessor.pack(PLAIN_TEXTS[-4:])
    np.testing.assert_array_equal(packed["token_ids"], model.preprocessor.pack(PLAIN_TEXTS[-4:])[0]["token_ids"])
    before, after = logits(model, x), logits(extended, x)
    assert after.shape[-1] == size + 3 and np.abs(after[..., :size] - before).max() <= 1e-5

    assert_keras_hub_reads_extended_preset(extended, TEXTS_WITH_NEW_WORDS + PLAIN_TEXTS[-4:], tmp_path / "extended")


@pytest.mark.parametrize("task_class, class_names", [
    (AlbertMaskedLM, ("AlbertForMaskedLM", "AlbertTokenizer")),
    (DebertaV3MaskedLM, ("DebertaV2ForMaskedLM", "DebertaV2Tokenizer"))])
def test_extended_export_loads_in_transformers_with_equal_ids_and_logits(proto, task_class, class_names, tmp_path,
                                                                          monkeypatch):
    from mlm_cli.models.convert.transformers_checkpoint import export_transformers

    monkeypatch.setenv("MLM_CACHE_DIR", str(tmp_path / "cache"))
    tokenizer_class = task_class.preprocessor_cls.tokenizer_cls
    # The head's layer-norm epsilon of checkpoints converted from transformers (keras_hub's default differs, and with
    # it the logits, by an amount that depends on the weights: 1e-12 for ALBERT, 1e-7 for DeBERTa).
    settings = {"head_layer_norm_epsilon": 1e-7 if task_class is DebertaV3MaskedLM else 1e-12}
    model = tiny_model(task_class, tokenizer_class(proto=family_proto(task_class, proto), normalization="transformers"),
                       **settings)
    extended = extend_vocabulary(model, NEW_WORDS)
    export_transformers(extended, tmp_path / "hf")
    texts = TEXTS_WITH_NEW_WORDS + ["Kubectl, GREP and systemd", "a [MASK] b kubectl"] + PLAIN_TEXTS[-4:]
    assert_transformers_reads_export(extended, tmp_path / "hf", texts, texts, class_names)


@pytest.mark.run_once
def test_check_extendable_names_the_sentencepiece_families(proto):
    model = tiny_model(AlbertMaskedLM, AlbertTokenizer(proto=proto))
    check_extendable(model)
    from mlm_cli.models import XLMRobertaBackbone, XLMRobertaMaskedLM, XLMRobertaMaskedLMPreprocessor

    tokenizer = XLMRobertaTokenizer(proto=xlm_roberta_proto(PLAIN_TEXTS))
    xlmr = XLMRobertaMaskedLM(XLMRobertaBackbone(vocabulary_size=tokenizer.vocabulary_size(),
                                                 **TINY_SIZES["xlm_roberta"]),
                              preprocessor=XLMRobertaMaskedLMPreprocessor(tokenizer, sequence_length=8))
    with pytest.raises(ValueError, match=r"^xlm_roberta models cannot.*unigram model: albert, deberta_v3, f_net"):
        check_extendable(xlmr)


def test_growth_skips_words_the_model_cannot_add(proto):
    from mlm_cli.workflows.vocabulary_growth import grow_vocabulary

    tokenizer = AlbertTokenizer(proto=proto)
    unknown_word = "grep\u4e00\u4e01"  # characters the tiny model does not know
    assert tokenizer.addable_words(["grep", unknown_word, "ｇrep"]) == [True, False, False]
    documents = [f"the {unknown_word} kubectl and grep" for _ in range(30)]
    extended, growth = grow_vocabulary(tiny_model(AlbertMaskedLM, tokenizer), documents, limit=10)
    assert sorted(candidate.word for candidate in growth.words) == ["grep", "kubectl"]
    assert extended.preprocessor.tokenizer.vocabulary_size() == tokenizer.vocabulary_size() + 2
