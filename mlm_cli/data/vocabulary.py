"""Train a WordPiece vocabulary on a corpus, for models pretrained from scratch."""

from __future__ import annotations

from collections.abc import Iterable

BERT_SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def train_wordpiece_vocabulary(
    texts: Iterable[str],
    vocabulary_size: int,
    *,
    lowercase: bool = True,
    special_tokens: list[str] | None = None,
    min_frequency: int = 2,
) -> list[str]:
    """A WordPiece vocabulary (special tokens first, then learned tokens by id) learned from `texts`."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    special_tokens = list(special_tokens or BERT_SPECIAL_TOKENS)
    if vocabulary_size <= len(special_tokens):
        raise ValueError(f"vocabulary_size must exceed the {len(special_tokens)} special tokens")
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=lowercase, strip_accents=False, clean_text=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocabulary_size, special_tokens=special_tokens, min_frequency=min_frequency, show_progress=False
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    vocabulary = tokenizer.get_vocab()
    return [token for token, _ in sorted(vocabulary.items(), key=lambda item: item[1])]
