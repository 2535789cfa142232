"""Learning the words --extend-vocabulary adds: counted on a bounded sample as the tokenizer sees them, ranked by
tokens saved."""

from __future__ import annotations

import itertools

import pytest

from mlm_cli.data.vocabulary_words import WordSample, choose_words, count_words, tokens_per_word
from mlm_cli.models import BertTokenizer
from tests.support.corpus import tiny_vocabulary
from tests.support.imports import heavy_modules_imported

pytestmark = pytest.mark.run_once  # no backend involved


def piece_counts(tokenizer):
    return lambda words: [len(ids) for ids in tokenizer.word_piece_ids(words)]


def test_frequent_multi_piece_words_are_chosen_by_tokens_saved_and_single_pieces_skipped():
    tokenizer = BertTokenizer(vocabulary=tiny_vocabulary(), lowercase=True)
    documents = ["Kubectl gets the pods, then the model runs kubectl."] * 30 + ["systemd and the data"] * 25 + [
        "grep once"] * 3
    sample = count_words(documents, tokenizer.text_words)
    assert sample.counts["kubectl"] == 60 and sample.counts["the"] == 85 and sample.documents == 58
    chosen = choose_words(sample, piece_counts(tokenizer), limit=10, min_count=20)
    # kubectl: 60 x (7 - 1) tokens saved; pods: 30 x 3; systemd: 25 x 6; "the", "model", "data" are one token each;
    # grep is too rare.
    assert [(c.word, c.count, c.pieces) for c in chosen] == [("kubectl", 60, 7), ("systemd", 25, 7), ("gets", 30, 4),
                                                             ("pods", 30, 4), ("runs", 30, 4)]
    assert [c.word for c in choose_words(sample, piece_counts(tokenizer), limit=2, min_count=20)] == ["kubectl",
                                                                                                     "systemd"]
    assert "grep" in [c.word for c in choose_words(sample, piece_counts(tokenizer), limit=10, min_count=3)]


def test_tokens_per_word_falls_once_the_chosen_words_are_added():
    tokenizer = BertTokenizer(vocabulary=tiny_vocabulary(), lowercase=True)
    sample = count_words(["kubectl the model"] * 4, tokenizer.text_words)
    before = tokens_per_word(sample, piece_counts(tokenizer))
    extended = tokenizer.with_added_words([c.word for c in choose_words(sample, piece_counts(tokenizer), 5, 2)])
    assert before == pytest.approx((7 + 1 + 1) / 3)
    assert tokens_per_word(sample, piece_counts(extended)) == pytest.approx(1.0)


def test_the_sample_reads_only_the_first_documents_and_the_counter_stays_bounded():
    def endless():
        for index in itertools.count():
            yield f"word{index} common"

    sample = count_words(endless(), str.split, max_documents=500, max_distinct=100)
    assert sample.documents == 500 and sample.words == 1000
    assert len(sample.counts) <= 101 and sample.counts["common"] == 500
    by_characters = count_words(endless(), str.split, max_characters=100)
    assert by_characters.documents == 9  # "word0 common" ... : the document that passes 100 characters is the last


def test_no_candidates_means_no_words():
    assert choose_words(WordSample({}, 0, 0), lambda words: [], limit=5) == []


def test_word_learning_imports_no_framework():
    assert heavy_modules_imported("import mlm_cli.data.vocabulary_words") == []
