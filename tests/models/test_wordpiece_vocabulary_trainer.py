"""WordPiece vocabulary training: the same corpus gives the same vocabulary in any process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from mlm_cli.models.tokenizers.wordpiece_vocabulary_trainer import train_wordpiece_vocabulary

pytestmark = pytest.mark.run_once  # no backend

SAMPLE_CORPUS = Path(__file__).resolve().parents[2] / "mlm_cli" / "samples" / "corpus.txt"
TRAIN = (
    "import sys\n"
    "from mlm_cli.models.tokenizers.wordpiece_vocabulary_trainer import train_wordpiece_vocabulary\n"
    "texts = open(sys.argv[1], encoding='utf-8').read().splitlines()\n"
    "sys.stdout.write(''.join(t + '\\n' for t in train_wordpiece_vocabulary(texts, 400)))\n"
)


def test_vocabulary_is_identical_across_processes():
    """The trainer's hash maps are seeded per process (Rust's, and Python's with PYTHONHASHSEED)."""
    vocabularies = []
    for hash_seed in ("1", "2"):
        done = subprocess.run([sys.executable, "-c", TRAIN, str(SAMPLE_CORPUS)], capture_output=True, timeout=300,
                              env={**os.environ, "PYTHONHASHSEED": hash_seed})
        assert done.returncode == 0, done.stderr.decode()
        vocabularies.append(done.stdout)
    assert vocabularies[0] == vocabularies[1]
    tokens = vocabularies[0].decode().splitlines()
    assert len(tokens) == 400 and tokens[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def test_words_are_counted_as_bert_pretokenizes():
    from tokenizers import normalizers, pre_tokenizers

    from mlm_cli.models.tokenizers.wordpiece_vocabulary_trainer import continuation_pieces, count_words

    texts = ["Hello, World! It's 3.14", "naïve café—ΟΔΟΣ 東京タワー x\u200by", "hello world"]
    normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=False, clean_text=True)
    expected = Counter(word for text in texts for word, _ in pre_tokenizers.BertPreTokenizer().pre_tokenize_str(
        normalizer.normalize_str(text)))
    assert count_words(texts) == expected
    assert continuation_pieces(["hello", "ab", "a"]) == ["##b", "##e", "##l", "##o"]


def test_vocabulary_holds_every_continuation_character():
    texts = ["the cat sat on the mat", "a dog and the cats"] * 3
    vocabulary = train_wordpiece_vocabulary(texts, 60)
    assert len(vocabulary) == len(set(vocabulary))
    assert {"##h", "##e", "##a", "##t", "##s", "t", "c", "d"} <= set(vocabulary)
    assert train_wordpiece_vocabulary(iter(texts), 60) == vocabulary  # any iterable, read once
