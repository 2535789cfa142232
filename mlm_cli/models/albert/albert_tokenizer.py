"""ALBERT's SentencePiece tokenizer, configured like keras_hub's AlbertTokenizer (no keras needed)."""

from __future__ import annotations

import os
from typing import Any

from mlm_cli.models.albert.albert_transformers_tokenizer import (
    TRANSFORMERS_NORMALIZATIONS,
    build_transformers_tokenizer,
)
from mlm_cli.models.tokenizers.sentencepiece_tokenizer import SentencePieceTokenizer

KERAS_HUB_NORMALIZATION = "keras_hub"
NORMALIZATIONS = (KERAS_HUB_NORMALIZATION, *TRANSFORMERS_NORMALIZATIONS)


class AlbertTokenizer(SentencePieceTokenizer):
    """SentencePiece with ALBERT's special tokens: [CLS], [SEP], <pad>, [MASK].

    `normalization="keras_hub"` (the default) runs the SentencePiece model on the raw text,
    as keras_hub does. Checkpoints converted from transformers use one of the
    `transformers*` normalizations instead (see albert_transformers_tokenizer), so that
    their token ids equal transformers'; presets record that choice in metadata.json.

    Args:
        proto: a serialized SentencePiece model (bytes) or the path of one, holding the
            pieces [CLS], [SEP], <pad> and [MASK]; or None to set it later.
        normalization: "keras_hub" (the default), or transformers' AlbertTokenizer text
            handling: "transformers" (lowercased, accents stripped), "transformers_cased"
            (accents stripped), "transformers_keep_accents" (lowercased) or
            "transformers_cased_keep_accents". With a transformers normalization,
            `add_bos` / `add_eos` are refused when tokenizing.
        **kwargs: `SentencePieceTokenizer`'s other arguments (sequence_length, add_bos,
            add_eos, name, config_file); `name` defaults to "albert_tokenizer".

    Examples:

    >>> from mlm_cli.models.family_examples import SENTENCEPIECE_TEXTS as texts  # five short sentences
    >>> from mlm_cli.models import AlbertTokenizer
    >>> tokenizer = AlbertTokenizer.train_on(texts, vocabulary_size=20, model_type="word")
    >>> tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id, tokenizer.mask_token_id
    (2, 3, 0, 4)
    >>> ids = tokenizer("the quick fox")
    >>> ids.tolist(), tokenizer.detokenize(ids)
    ([6, 18, 9], 'the quick fox')

    A preset's model file loads by path:

        tokenizer = AlbertTokenizer(proto="assets/tokenizer/vocabulary.spm")
    """

    start_token = "[CLS]"
    end_token = "[SEP]"
    pad_token = "<pad>"
    mask_token = "[MASK]"

    def __init__(self, proto: bytes | str | os.PathLike | None = None, normalization: str = KERAS_HUB_NORMALIZATION,
                 **kwargs: Any):
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {', '.join(NORMALIZATIONS)}, got {normalization!r}")
        self.normalization = normalization
        self._transformers_tokenizer = None
        super().__init__(proto=proto, **kwargs)

    def set_proto(self, proto: bytes | str | os.PathLike) -> None:
        super().set_proto(proto)
        if self.normalization != KERAS_HUB_NORMALIZATION:
            self._transformers_tokenizer = build_transformers_tokenizer(
                self.proto, TRANSFORMERS_NORMALIZATIONS[self.normalization], self.special_tokens
            )

    def piece_ids(self, texts: list[str]) -> list[list[int]]:
        if self._transformers_tokenizer is None:
            return super().piece_ids(texts)
        if self.add_bos or self.add_eos:
            raise ValueError("add_bos / add_eos are not supported with transformers' ALBERT normalization")
        return [encoding.ids for encoding in self._transformers_tokenizer.encode_batch_fast(texts,
                                                                                            add_special_tokens=False)]

    def text_words(self, text: str) -> list[str]:
        """The words of `text` as the model sees them: normalised (transformers' way, when set), split at spaces."""
        if self._transformers_tokenizer is None:
            return super().text_words(text)
        return self._transformers_tokenizer.normalizer.normalize_str(text).split()

    def extension_config(self) -> dict:
        """The normalization, when it is not keras_hub's (keras_hub's config has no key for it)."""
        return {} if self.normalization == KERAS_HUB_NORMALIZATION else {"normalization": self.normalization}
