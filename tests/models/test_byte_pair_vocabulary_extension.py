"""extend_vocabulary on RoBERTa's byte-level BPE: each word made one token by merges appended after every existing
merge (intermediate tokens included), rows grown as their pieces' mean; the result loads in keras_hub and, exported,
in transformers."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from mlm_cli.models import RobertaMaskedLM, RobertaTokenizer
from mlm_cli.models.tokenizers.byte_pair_words import plan_merge_chains
from mlm_cli.models.vocabulary_extension import check_extendable, extend_vocabulary
from tests.family_sizes import TINY_SIZES
from tests.models.family_checks import (
    assert_keras_hub_reads_extended_preset,
    assert_transformers_reads_export,
    build_masked_lm,
    logits,
    perturb_weights,
)
from tests.models.test_roberta import read_bpe, tiny_bpe

NEW_WORDS = ["Ġkubectl", "Ġsystemd", "Ġgrep"]  # byte-level words ("Ġ": a space before), several pieces each
PLAIN_TEXTS = ["the model will train on data, then mask a token!", "a word of the day", "<mask> is the word"]
TEXTS_WITH_NEW_WORDS = ["use kubectl and grep with systemd", "then systemd, grep: the kubectl way <mask>"]
# A toy vocabulary: "og" is an entry that no merge reaches; "x" is missing.
TOY_VOCABULARY = {"<s>": 0, "<pad>": 1, "</s>": 2, "<mask>": 3, "a": 4, "c": 5, "e": 6, "h": 7, "t": 8, "Ġ": 9,
                  "th": 10, "the": 11, "at": 12, "Ġc": 13, "Ġcat": 14, "d": 15, "g": 16, "o": 17, "s": 18, "og": 19}
TOY_MERGES = ["t h", "th e", "a t", "Ġ c", "Ġc at"]


@pytest.fixture(scope="module")
def bpe(tmp_path_factory) -> tuple[dict[str, int], list[str]]:
    directory = tmp_path_factory.mktemp("bpe")
    tiny_bpe(directory)
    return read_bpe(directory)


def roberta_tokenizer(bpe, normalization: str = "keras_hub") -> RobertaTokenizer:
    vocabulary, merges = bpe
    return RobertaTokenizer(vocabulary=vocabulary, merges=merges, normalization=normalization)


def tokens(tokenizer: RobertaTokenizer, ids) -> list[str]:
    return [tokenizer.id_to_token(token_id) for token_id in ids]


@pytest.mark.run_once
@pytest.mark.parametrize("normalization", ["keras_hub", "transformers"])
def test_added_words_are_one_new_token_and_other_text_keeps_its_ids(bpe, normalization):
    tokenizer = roberta_tokenizer(bpe, normalization)
    assert all(len(ids) >= 2 for ids in tokenizer.word_piece_ids(NEW_WORDS))
    extended = tokenizer.with_added_words(NEW_WORDS)
    size = tokenizer.vocabulary_size()
    added = extended.get_vocabulary()[size:]
    assert extended.get_vocabulary()[:size] == tokenizer.get_vocabulary() and set(NEW_WORDS) <= set(added)
    assert len(added) == len(tokenizer.new_token_pieces(NEW_WORDS)) > len(NEW_WORDS)  # intermediate tokens too
    assert extended.merges[:len(tokenizer.merges)] == tokenizer.merges
    assert extended.special_token_ids == tokenizer.special_token_ids and extended.mask_token_id == \
        tokenizer.mask_token_id
    word_ids = [extended.token_to_id(word) for word in NEW_WORDS]
    assert extended.word_piece_ids(NEW_WORDS) == [[token_id] for token_id in word_ids] and min(word_ids) >= size
    assert extended(" kubectl systemd grep").tolist() == word_ids
    for text in PLAIN_TEXTS:
        assert extended(text).tolist() == tokenizer(text).tolist(), text
    flat, offsets = extended.encoder.encode_batch_flat(TEXTS_WITH_NEW_WORDS + PLAIN_TEXTS)
    for index, text in enumerate(TEXTS_WITH_NEW_WORDS + PLAIN_TEXTS):
        assert flat[offsets[index]:offsets[index + 1]].tolist() == extended(text).tolist()
        if " <mask>" not in text:  # transformers' <mask> takes the space before it
            assert extended.detokenize(extended(text)) == text
    assert set(word_ids) <= set(flat.tolist())
    # The caveat: a longer word whose pieces hold an appended pair side by side gets a shorter split too.
    assert tokens(extended, extended(" greps")) == ["Ġgrep", "s"]


@pytest.mark.run_once
def test_text_words_are_byte_level_words_without_the_special_tokens(bpe):
    assert roberta_tokenizer(bpe).text_words("Hé said <mask> kubectl,grep") == [
        "H\u00c3\u00a9", "Ġsaid", "Ġ", "Ġkubectl", ",", "grep"]
    # transformers' <mask> takes the spaces before it.
    assert roberta_tokenizer(bpe, "transformers").text_words("a <mask> b") == ["a", "Ġb"]
    assert RobertaTokenizer(vocabulary=bpe[0], merges=bpe[1], add_prefix_space=True).text_words("a<s>b") == [
        "Ġa", "Ġb"]


@pytest.mark.run_once
def test_merge_chains_fold_the_pieces_preferring_joins_the_vocabulary_has():
    tokenizer = RobertaTokenizer(vocabulary=TOY_VOCABULARY, merges=TOY_MERGES)
    assert tokens(tokenizer, tokenizer(" dog cats")) == ["Ġ", "d", "o", "g", "Ġcat", "s"]
    extended = tokenizer.with_added_words(["Ġdog", "Ġcats"])
    # "o g" first (its join is a vocabulary entry already), then leftmost: "Ġ d", then "Ġd og".
    assert extended.merges[len(TOY_MERGES):] == ["o g", "Ġ d", "Ġd og", "Ġcat s"]
    assert extended.get_vocabulary()[len(TOY_VOCABULARY):] == ["Ġd", "Ġdog", "Ġcats"]
    assert tokenizer.new_token_pieces(["Ġdog", "Ġcats"]) == [[9, 15], [9, 15, 17, 16], [14, 18]]
    assert extended(" dog cats").tolist() == [21, 22]
    assert extended("the cat").tolist() == tokenizer("the cat").tolist() == [11, 14]


@pytest.mark.run_once
def test_earlier_words_stay_one_token_when_later_words_share_their_pieces(bpe):
    tokenizer = roberta_tokenizer(bpe)
    words = ["stem", "Ġsystemd"]
    old = [tokens(tokenizer, ids) for ids in tokenizer.word_piece_ids(words)]
    assert old == [["st", "e", "m"], ["Ġs", "y", "st", "e", "m", "d"]]  # "st e" in both
    # Chains planned one word at a time against the original merges alone would break "Ġsystemd": "stem"'s merges,
    # ranked first, join "st e m" inside it before its own chain can fire.
    vocabulary, merges = bpe
    pairs = [tuple(rule.split(" ")) for rule in merges]
    apart = [plan_merge_chains(vocabulary, pairs, [word], lambda w: tokens(tokenizer, tokenizer.word_piece_ids([w])[0]))
             for word in words]
    joins = list(dict.fromkeys(apart[0].tokens + apart[1].tokens))
    naive = RobertaTokenizer(vocabulary={**vocabulary, **{join: len(vocabulary) + i for i, join in enumerate(joins)}},
                             merges=merges + [" ".join(pair) for chain in apart for pair in chain.merges])
    assert len(naive.word_piece_ids(["Ġsystemd"])[0]) > 1
    extended = tokenizer.with_added_words(words)
    assert [len(ids) for ids in extended.word_piece_ids(words)] == [1, 1]
    assert extended("stem systemd").tolist() == [extended.token_to_id("stem"), extended.token_to_id("Ġsystemd")]
    # "dos" is chained against the merges before it: "o s" (ranked first) leaves "d os", so "d os" is its merge.
    # Read from its old split "d o s", the leftmost join the vocabulary has would be "d o", which never fires there.
    toy = RobertaTokenizer(vocabulary=TOY_VOCABULARY, merges=TOY_MERGES).with_added_words(["os", "do", "dos"])
    assert toy.merges[len(TOY_MERGES):] == ["o s", "d o", "d os"]
    assert toy.word_piece_ids(["os", "do", "dos"]) == [[20], [21], [22]]
    # A word that an earlier word's chain already made one token adds nothing of its own.
    both = tokenizer.with_added_words(["Ġkubectl", "Ġkube"])
    assert both.vocabulary_size() == tokenizer.with_added_words(["Ġkubectl"]).vocabulary_size()
    assert both.word_piece_ids(["Ġkubectl", "Ġkube"]) == [[both.token_to_id("Ġkubectl")], [both.token_to_id("Ġkube")]]


@pytest.mark.run_once
def test_words_that_cannot_become_one_token_are_refused():
    tokenizer = RobertaTokenizer(vocabulary=TOY_VOCABULARY, merges=TOY_MERGES)
    words = ["Ġcats", "Ġcat", "Ġcatx", "Ġcat Ġcat", "Ġcat,", "<mask>s", "ĠcatĠcat"]
    assert tokenizer.addable_words(words) == [True, False, False, False, False, False, False]
    for word in words[1:]:
        with pytest.raises(ValueError, match="cannot be added"):
            tokenizer.with_added_words([word])
    with pytest.raises(ValueError, match="twice"):
        tokenizer.with_added_words(["Ġcats", "Ġcats"])


def tiny_roberta(tokenizer: RobertaTokenizer) -> RobertaMaskedLM:
    model = build_masked_lm(RobertaMaskedLM, tokenizer, TINY_SIZES["roberta"], sequence_length=24,
                            mask_selection_length=6)
    perturb_weights(model.weights, seed=5)
    return model


def test_rows_are_their_pieces_mean_and_logits_of_other_text_stay(bpe):
    tokenizer = roberta_tokenizer(bpe)
    model = tiny_roberta(tokenizer)
    check_extendable(model)
    pieces = tokenizer.new_token_pieces(NEW_WORDS)
    extended = extend_vocabulary(model, NEW_WORDS)
    size, new_size = tokenizer.vocabulary_size(), extended.preprocessor.tokenizer.vocabulary_size()
    new_tokens = extended.preprocessor.tokenizer.get_vocabulary()[size:]
    assert new_size == size + len(pieces) and extended.backbone.vocabulary_size == new_size
    assert ["".join(tokens(tokenizer, ids)) for ids in pieces] == new_tokens

    def array(variable) -> np.ndarray:
        return keras.ops.convert_to_numpy(variable)

    old_table, new_table = (array(m.backbone.token_embedding.embeddings) for m in (model, extended))
    old_bias, new_bias = (array(m.masked_lm_head.output_bias) for m in (model, extended))
    np.testing.assert_array_equal(new_table[:size], old_table)
    np.testing.assert_array_equal(new_bias[:size], old_bias)
    for offset, ids in enumerate(pieces):
        np.testing.assert_allclose(new_table[size + offset], old_table[ids].mean(axis=0), rtol=1e-6)
        np.testing.assert_allclose(new_bias[size + offset], old_bias[ids].mean(), rtol=1e-6)
    assert extended.preprocessor.masker.vocabulary_size == new_size

    x, _, _ = model.preprocessor(PLAIN_TEXTS)
    packed, _ = extended.preprocessor.pack(PLAIN_TEXTS)
    np.testing.assert_array_equal(packed["token_ids"], model.preprocessor.pack(PLAIN_TEXTS)[0]["token_ids"])
    before, after = logits(model, x), logits(extended, x)
    assert after.shape[-1] == new_size and np.abs(after[..., :size] - before).max() <= 1e-5


def test_extended_preset_loads_in_keras_hub_with_equal_ids_and_logits(bpe, tmp_path):
    extended = extend_vocabulary(tiny_roberta(roberta_tokenizer(bpe)), NEW_WORDS)
    assert extended.preprocessor.tokenizer.token_to_id("Ġkubectl") in extended.preprocessor.tokenizer(
        TEXTS_WITH_NEW_WORDS[0]).tolist()
    assert_keras_hub_reads_extended_preset(extended, TEXTS_WITH_NEW_WORDS + PLAIN_TEXTS, tmp_path / "extended")


@pytest.mark.parametrize("normalization", ["transformers", "keras_hub"])
def test_extended_export_loads_in_transformers_with_equal_ids_and_logits(bpe, normalization, tmp_path, monkeypatch):
    import transformers

    from mlm_cli.models.convert.transformers_checkpoint import export_transformers

    monkeypatch.setenv("MLM_CACHE_DIR", str(tmp_path / "cache"))
    extended = extend_vocabulary(tiny_roberta(roberta_tokenizer(bpe, normalization)), NEW_WORDS)
    export_transformers(extended, tmp_path / "hf")
    texts = TEXTS_WITH_NEW_WORDS + ["Kubectl, GREP and systemd", " kubectl"] + PLAIN_TEXTS
    if normalization == "transformers":
        assert_transformers_reads_export(extended, tmp_path / "hf", texts, texts,
                                         ("RobertaForMaskedLM", "RobertaTokenizer"))
    hf_tokenizer = transformers.AutoTokenizer.from_pretrained(tmp_path / "hf")
    for text in texts:
        assert hf_tokenizer(text, add_special_tokens=False)["input_ids"] == extended.preprocessor.tokenizer(
            text).tolist(), text
    written = Path(tmp_path / "hf" / "merges.txt").read_text(encoding="utf-8").splitlines()
    assert written[-len(extended.preprocessor.tokenizer.merges):] == extended.preprocessor.tokenizer.merges


def test_growth_counts_byte_level_words_and_reports_intermediate_tokens(bpe):
    from mlm_cli.workflows.vocabulary_growth import grow_vocabulary

    tokenizer = roberta_tokenizer(bpe)
    documents = ["we ran kubectl and grep, then kubectl again" for _ in range(30)]
    extended, growth = grow_vocabulary(tiny_roberta(tokenizer), documents, limit=10)
    chosen = [candidate.word for candidate in growth.words]
    assert {"Ġgrep", "Ġkubectl"} <= set(chosen) and "," not in chosen
    new_tokenizer = extended.preprocessor.tokenizer
    assert [len(ids) for ids in new_tokenizer.word_piece_ids(chosen)] == [1] * len(chosen)
    new_size = new_tokenizer.vocabulary_size()
    assert growth.intermediate_tokens == new_size - tokenizer.vocabulary_size() - len(chosen) > 0
    assert (f"extended the vocabulary by {len(chosen)} words and {growth.intermediate_tokens} intermediate tokens "
            f"({tokenizer.vocabulary_size()} → {new_size})") in growth.summary()


def test_refusals_name_roberta_among_the_families_that_work():
    from mlm_cli.models import ESMBackbone, ESMMaskedPLM, ESMMaskedPLMPreprocessor, ESMTokenizer

    vocabulary = ["<pad>", "<cls>", "<eos>", "<unk>", "L", "A", "G", "V", "<mask>"]
    backbone = ESMBackbone(vocabulary_size=len(vocabulary), **TINY_SIZES["esm"])
    model = ESMMaskedPLM(backbone, preprocessor=ESMMaskedPLMPreprocessor(ESMTokenizer(vocabulary=vocabulary),
                                                                         sequence_length=8))
    with pytest.raises(ValueError, match=r"^esm models cannot add whole words.*byte-level BPE family: roberta$"):
        check_extendable(model)
