"""ALBERT tokenization as transformers performs it, for checkpoints converted from transformers.

keras_hub's AlbertTokenizer runs the SentencePiece model as it is. transformers' AlbertTokenizer
first rewrites the text (`` and '' to ", optionally NFKD + accent stripping and lowercasing),
then applies the model's own normalisation table, splits on whitespace and runs the unigram
model; the family's special tokens written in text map to their ids. The same pipeline is
built here on the Rust `tokenizers` library, so token ids equal transformers' and batches are
encoded in Rust.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlm_cli.models.tokenizers.sentencepiece_model_file import CONTROL, UNIGRAM, USER_DEFINED, read_sentencepiece_model

WORD_BOUNDARY = "\u2581"  # SentencePiece's "▁"


@dataclass(frozen=True)
class TransformersNormalization:
    """transformers' AlbertTokenizer options `do_lower_case` and `not keep_accents`."""

    lowercase: bool
    strip_accents: bool


# mlm's names for the settings (a preset records the name in metadata.json). "transformers" is
# what every published ALBERT checkpoint uses (do_lower_case=True, keep_accents=False).
TRANSFORMERS_NORMALIZATIONS = {
    "transformers": TransformersNormalization(lowercase=True, strip_accents=True),
    "transformers_cased": TransformersNormalization(lowercase=False, strip_accents=True),
    "transformers_keep_accents": TransformersNormalization(lowercase=True, strip_accents=False),
    "transformers_cased_keep_accents": TransformersNormalization(lowercase=False, strip_accents=False),
}


def normalization_name(do_lower_case: bool, keep_accents: bool) -> str:
    """The mlm name of transformers' AlbertTokenizer settings."""
    wanted = TransformersNormalization(lowercase=bool(do_lower_case), strip_accents=not keep_accents)
    return next(name for name, value in TRANSFORMERS_NORMALIZATIONS.items() if value == wanted)


def build_transformers_tokenizer(proto: bytes, normalization: TransformersNormalization, special_tokens: list[str]):
    """A `tokenizers.Tokenizer` equal to transformers' AlbertTokenizer for this SentencePiece model."""
    from tokenizers import AddedToken, Tokenizer, normalizers, pre_tokenizers
    from tokenizers.models import Unigram

    model = read_sentencepiece_model(proto)
    if model.model_type != UNIGRAM:
        raise ValueError("transformers' ALBERT tokenizer needs a unigram SentencePiece model")
    if not 0 <= model.unk_id < len(model.pieces):
        raise ValueError(f"the SentencePiece model's unknown-token id {model.unk_id} is out of range")
    tokenizer = Tokenizer(Unigram([(piece.text, piece.score) for piece in model.pieces], unk_id=model.unk_id,
                                  byte_fallback=False))
    steps = [normalizers.Replace("``", '"'), normalizers.Replace("''", '"')]
    if normalization.strip_accents:
        steps += [normalizers.NFKD(), normalizers.StripAccents()]
    if normalization.lowercase:
        steps.append(normalizers.Lowercase())
    if model.precompiled_charsmap:
        steps.append(normalizers.Precompiled(model.precompiled_charsmap))
    tokenizer.normalizer = normalizers.Sequence(steps)
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace(replacement=WORD_BOUNDARY, prepend_scheme="always")]
    )
    control = [piece.text for piece in model.pieces if piece.type == CONTROL]
    user_defined = [
        piece.text for piece in model.pieces if piece.type == USER_DEFINED and piece.text not in special_tokens]
    unknown = model.pieces[model.unk_id].text
    specials = list(dict.fromkeys([*control, unknown, *special_tokens]))
    tokenizer.add_special_tokens([AddedToken(token, normalized=False, special=True) for token in specials])
    tokenizer.add_tokens([AddedToken(token, normalized=False, special=False) for token in user_defined])
    return tokenizer
