"""Whole words appended to a unigram SentencePiece model as NORMAL pieces ("▁" + word), every old id kept.

A unigram model segments each text by the highest-scoring path through a lattice of its pieces.
A new piece "▁word" only adds paths over the text "▁word" itself, so text without that
substring keeps its segmentation (and ids); where the word stands alone it wins once its score
beats the best path it replaces. Its score is that path's score plus WORD_SCORE_MARGIN (the word
made e times as likely as its best split), capped at the model's highest NORMAL score so the
model's largest score, which sentencepiece uses to score user-defined pieces, stays as it was.

BPE, word and char models are refused: BPE builds tokens by its merges, and a piece no merge
reaches is never produced. The pieces are appended as protobuf fields at the end of the serialized
model (a repeated field's entries keep their order wherever they stand), so the rest of the file,
its normaliser and trainer settings included, stays byte for byte.
"""

from __future__ import annotations

from collections.abc import Sequence

from mlm_cli.models.tokenizers.sentencepiece_model_file import NORMAL, UNIGRAM, Piece, SentencePieceModel, piece_field

WORD_START = "\u2581"  # SentencePiece's "▁": the piece begins a word
WORD_SCORE_MARGIN = 1.0


def check_unigram(model: SentencePieceModel) -> None:
    """ValueError unless `model` is a unigram model (the only kind that can take whole-word pieces soundly)."""
    if model.model_type != UNIGRAM:
        raise ValueError("whole words can be added only to unigram SentencePiece models (BPE pieces come from merges)")


def word_scores(model: SentencePieceModel, split_scores: Sequence[float]) -> list[float]:
    """The score of each new word piece: its best split's score plus the margin, capped at the top NORMAL score."""
    top = max(piece.score for piece in model.pieces if piece.type == NORMAL)
    return [min(float(score) + WORD_SCORE_MARGIN, top) for score in split_scores]


def with_word_pieces(proto: bytes, words: Sequence[str], scores: Sequence[float]) -> bytes:
    """`proto` with a NORMAL piece "▁" + word of the given score appended for each word (ids after the last piece)."""
    added = b"".join(piece_field(Piece(WORD_START + word, float(score), NORMAL))
                     for word, score in zip(words, scores, strict=True))
    return bytes(proto) + added
