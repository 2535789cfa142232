"""DeBERTaV3's SentencePiece tokenizer, with keras_hub's ids: [MASK] is appended when the model file lacks it."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from mlm_cli.models.tokenizers.base import check_normalization
from mlm_cli.models.tokenizers.sentencepiece_model_file import CONTROL, Piece, piece_field
from mlm_cli.models.tokenizers.sentencepiece_tokenizer import SentencePieceTokenizer

METASPACE = "\u2581"


class DebertaV3Tokenizer(SentencePieceTokenizer):
    """SentencePiece tokenizer with DeBERTa's special tokens [CLS], [SEP], [PAD] and [MASK].

    DeBERTaV3's model file has no [MASK] piece; as in keras_hub (and transformers), it
    gets the id right after the model's pieces, so `vocabulary_size()` is one more than
    the model file's.

    `normalization` chooses how text becomes pieces:

    - "keras_hub" (default): sentencepiece itself, as keras_hub tokenizes (the model's own
      NFKC normalisation; special tokens written in text are ordinary text);
    - "transformers": transformers' DebertaV2Tokenizer built from the same model file (the
      model's normalisation table, runs of spaces collapsed, special tokens written in text
      kept whole), used for checkpoints converted from transformers so their ids stay as they were.

    keras_hub's config has no key for it, so a preset records "transformers" in metadata.json.

    Args:
        proto: a serialized SentencePiece model (bytes) or the path of one, holding the
            pieces [CLS], [SEP] and [PAD] ([MASK] is appended when missing); or None to set
            it later.
        sequence_length: None (the default) or a positive integer to truncate and pad every
            result to.
        add_bos: whether every result starts with [CLS] (sentencepiece's beginning-of-sentence
            piece). Default False.
        add_eos: whether every result ends with [SEP]. Default False.
        name: default "deberta_v3_tokenizer".
        config_file: the preset file the config is written to. Default "tokenizer.json".
        normalization: "keras_hub" (the default) or "transformers", as above.
        **kwargs: only `trainable` and `dtype`, which are ignored.

    Examples:

    >>> from mlm_cli.models.family_examples import SENTENCEPIECE_TEXTS as texts  # five short sentences
    >>> from mlm_cli.models import DebertaV3Tokenizer
    >>> tokenizer = DebertaV3Tokenizer.train_on(texts, vocabulary_size=19, model_type="word")
    >>> tokenizer.vocabulary_size(), tokenizer.mask_token_id  # [MASK] appended after the model's 19 pieces
    (20, 19)
    >>> ids = tokenizer("the quick fox")
    >>> ids.tolist(), tokenizer.detokenize(ids)
    ([4, 16, 7], 'the quick fox')
    >>> tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id
    (1, 2, 0)
    """

    start_token = "[CLS]"
    end_token = "[SEP]"
    pad_token = "[PAD]"
    mask_token = "[MASK]"
    # [MASK] is no piece of DeBERTaV3's model: the tokenizer appends it after the last piece.
    trainer_special_pieces = dict(pad_id=0, bos_id=1, eos_id=2, unk_id=3, pad_piece="[PAD]", bos_piece="[CLS]",
                                  eos_piece="[SEP]", unk_piece="[UNK]")

    def __init__(self, proto: bytes | str | os.PathLike | None = None, sequence_length: int | None = None,
                 add_bos: bool = False, add_eos: bool = False, name: str | None = None,
                 config_file: str = "tokenizer.json", normalization: str = "keras_hub", **kwargs: Any):
        self.normalization = check_normalization(normalization)
        self._transformers_pipeline = None
        super().__init__(proto, sequence_length=sequence_length, add_bos=add_bos, add_eos=add_eos, name=name,
                         config_file=config_file, **kwargs)

    def set_proto(self, proto: bytes | str | os.PathLike) -> None:
        super().set_proto(proto)
        if self.normalization == "transformers":
            self._transformers_pipeline = transformers_pipeline(self.processor, self.proto, self.special_tokens)

    # --- the appended [MASK] ----------------------------------------------------------

    @property
    def _mask_appended(self) -> bool:
        return self.mask_token not in self._piece_ids

    def vocabulary_size(self) -> int:
        return super().vocabulary_size() + self._mask_appended

    def get_vocabulary(self) -> list[str]:
        vocabulary = super().get_vocabulary()
        return vocabulary + [self.mask_token] if self._mask_appended else vocabulary

    def token_to_id(self, token: str) -> int:
        if token == self.mask_token and self._mask_appended:
            return self.processor.GetPieceSize()
        return super().token_to_id(token)

    def id_to_token(self, token_id: int) -> str:
        if int(token_id) == self.processor.GetPieceSize() and self._mask_appended:
            return self.mask_token
        return super().id_to_token(token_id)

    def proto_with_every_id(self) -> bytes:
        """The model file with an appended [MASK] made a CONTROL piece at its id (sentencepiece never reads a control
        piece from text, so every text keeps its ids), for new pieces to follow it."""
        if not self._mask_appended:
            return self.proto
        return self.proto + piece_field(Piece(self.mask_token, 0.0, CONTROL))

    def unmap_ids(self, ids: np.ndarray) -> np.ndarray:
        """Ids for sentencepiece's decoder: [MASK] is dropped (as keras_hub's detokenize does; an appended one has no
        piece).
        """
        return ids[ids != self.mask_token_id]

    # --- encoding ----------------------------------------------------------------------

    def text_words(self, text: str) -> list[str]:
        """The words of `text` as the model sees them: normalised (transformers' way, when set), split at spaces."""
        if self._transformers_pipeline is None:
            return super().text_words(text)
        return self._transformers_pipeline.normalizer.normalize_str(text).split()

    def piece_ids(self, texts: list[str]) -> list[list[int]]:
        if self._transformers_pipeline is None:
            return super().piece_ids(texts)
        encodings = self._transformers_pipeline.encode_batch(texts, add_special_tokens=False)
        prefix = [self.cls_token_id] if self.add_bos else []
        suffix = [self.sep_token_id] if self.add_eos else []
        return [prefix + encoding.ids + suffix for encoding in encodings]


def transformers_pipeline(processor, proto: bytes, special_tokens: list[str]):
    """A Rust `tokenizers` pipeline tokenizing as transformers' DebertaV2Tokenizer does from this model file.

    Unigram over the model's pieces and scores. Text, when the model file has a
    normalisation table (DeBERTaV3's has NFKC): that table, trailing spaces stripped, runs
    of spaces made one (transformers 4's fast tokenizer and current transformers 5); without
    one (and in early transformers 5 releases, whatever the file): whitespace runs, tabs and
    newlines become one space, NFC, trailing spaces stripped. "▁" marks every word start (one is always prepended);
    the special tokens are
    matched whole in raw text, and [MASK], when the model lacks it, takes the next id.
    """
    from tokenizers import AddedToken, Regex, Tokenizer, models, normalizers, pre_tokenizers

    from mlm_cli.models.tokenizers.sentencepiece_model_file import read_sentencepiece_model

    pieces = [(processor.IdToPiece(i), processor.GetScore(i)) for i in range(processor.GetPieceSize())]
    pipeline = Tokenizer(models.Unigram(pieces, unk_id=processor.unk_id(), byte_fallback=False))
    charsmap = read_sentencepiece_model(proto).precompiled_charsmap
    if charsmap:
        steps = [normalizers.Precompiled(charsmap), normalizers.Strip(left=False, right=True),
                 normalizers.Replace(Regex(" {2,}"), " ")]
    else:
        steps = [normalizers.Replace(Regex(r"\s{2,}|[\n\r\t]"), " "), normalizers.NFC(),
                 normalizers.Strip(left=False, right=True)]
    pipeline.normalizer = normalizers.Sequence(steps)
    pipeline.pre_tokenizer = pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always")
    unknown = processor.IdToPiece(processor.unk_id())
    pipeline.add_special_tokens([AddedToken(token, special=True, normalized=False) for token in [*special_tokens,
                                                                                                 unknown]])
    return pipeline
