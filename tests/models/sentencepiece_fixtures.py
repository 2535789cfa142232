"""Tiny SentencePiece models, trained in memory in about a second, numbered as each family's tokenizer expects."""

from __future__ import annotations

import io
import random
from collections.abc import Iterable, Sequence

from tests.support.corpus import WORDS, sample_sentences

# Text for ALBERT's and FNet's tokenizers: their special tokens, accents, CJK, emoji, odd whitespace.
ALBERT_SENTENCES = [
    "Hello, World! It's 3:45pm.", "Café naïve résumé coöperate", "日本語のテキスト 中文字符", "emoji 😀👍 ok",
    "tabs\tand\nnewlines\r\nend", "repeated   spaces    here", "", "   ", "12,345.67 and 3.14",
    "[MASK] is [CLS] and [SEP] <pad> <unk>", "a[MASK]b", "the models trained quickly", "MiXeD CaSe WoRdS",
    "« guillemets » – dash — “quotes”", "``quoted'' text", "İstanbul straße ﬁne", "x" * 120,
    "the model will train on data, then mask a token!",
]
# Words DeBERTaV3's model learns beyond WORDS: accents, CJK, emoji, numbers, punctuation.
DEBERTA_V3_TRAINING_TEXT = [
    "Café naïve résumé coöperate façade Zürich", "日本語のテキスト 中文字符 東京", "emoji 😀👍 ok 🙂",
    "12,345.67 and 3.14 (brackets) e-mail",
    "don't stop — “quotes” « guillemets »", "MiXeD CaSe WoRdS İstanbul straße",
]


def train_sentencepiece(texts: Iterable[str], vocabulary_size: int, **options: object) -> bytes:
    """A unigram SentencePiece model file trained on `texts`; `options` (special pieces, coverage) go to the trainer as
    they are.
    """
    import sentencepiece

    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(texts), model_writer=model, vocab_size=vocabulary_size, model_type="unigram",
        hard_vocab_limit=False, num_threads=1, minloglevel=2, **options,
    )
    return model.getvalue()


def albert_proto() -> bytes:
    """160 pieces incl. the specials keras_hub's ALBERT and FNet tokenizers expect: <pad> <unk> [CLS] [SEP] [MASK]."""
    texts = sample_sentences(300, seed=4) + [" ".join(WORDS[i : i + 9]).title() for i in range(0, len(WORDS),
        3)] + ALBERT_SENTENCES[:6]
    return train_sentencepiece(
        texts, 160, pad_id=0, unk_id=1, bos_id=2, eos_id=3, pad_piece="<pad>", unk_piece="<unk>", bos_piece="[CLS]",
        eos_piece="[SEP]", user_defined_symbols="[MASK]",
    )


def deberta_v3_proto(mask_piece: bool = False) -> bytes:
    """180 pieces with DeBERTa's special pieces, as keras_hub's tokenizer docstring trains one.

    With `mask_piece`, [MASK] is a piece of the model (user-defined); otherwise it is missing, as in DeBERTaV3's model.
    """
    rng = random.Random(0)
    words = list(WORDS) + " ".join(DEBERTA_V3_TRAINING_TEXT).split()
    corpus = [" ".join(rng.choice(words) for _ in range(rng.randint(3, 12))) for _ in range(3000)]
    return train_sentencepiece(
        corpus, 180, pad_id=0, bos_id=1, eos_id=2, unk_id=3, pad_piece="[PAD]", bos_piece="[CLS]", eos_piece="[SEP]",
        unk_piece="[UNK]", user_defined_symbols=["[MASK]"] if mask_piece else [], character_coverage=1.0,
    )


def xlm_roberta_proto(sentences: Sequence[str]) -> bytes:
    """400 pieces numbered like XLM-R's (<unk>=0, <s>=1, </s>=2), trained on `sentences` and sample text; rare
    characters stay unknown.
    """
    corpus = list(sentences) * 4 + sample_sentences(400, seed=5) + [
        " ".join(WORDS[i : i + 12]) for i in range(0, len(WORDS), 6)]
    return train_sentencepiece(corpus, 400, character_coverage=0.995)
