"""XLM-RoBERTa's SentencePiece tokenizer with fairseq's id remapping, like keras_hub's XLMRobertaTokenizer.

The SentencePiece model numbers its pieces `<unk>`=0, `<s>`=1, `</s>`=2, then the rest;
the model (fairseq, and keras_hub and transformers after it) uses `<s>`=0, `<pad>`=1,
`</s>`=2, `<unk>`=3, every other piece at its SentencePiece id + 1, and `<mask>` as the
last id. No keras import: data workers use this.

`normalization` chooses how special-token strings in raw text are treated:
"keras_hub" (default) encodes them as ordinary text, as keras_hub does; "transformers"
turns `<s>`, `<pad>`, `</s>`, `<unk>` and `<mask>` into their ids, as transformers'
XLMRobertaTokenizer does (checkpoints converted from transformers use it; the setting
travels in the preset's metadata.json, where keras_hub ignores it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from mlm_cli.models.tokenizers.base import check_normalization
from mlm_cli.models.tokenizers.sentencepiece_tokenizer import SentencePieceEncoder, SentencePieceTokenizer

FAIRSEQ_PREFIX = ("<s>", "<pad>", "</s>", "<unk>")  # ids 0-3 in the model's vocabulary
UNK_PIECE_ID = 0  # SentencePiece's <unk>, fairseq's 3
MASK_TOKEN = "<mask>"
SPECIAL_TOKEN_PATTERN = re.compile("(" + "|".join(re.escape(t) for t in (*FAIRSEQ_PREFIX, MASK_TOKEN)) + ")")


class SpecialTokenSplittingEncoder(SentencePieceEncoder):
    """transformers' handling of special-token strings in raw text: each becomes its id, the text between is encoded.

    Documents without any special-token string (nearly all) take the plain batch path.
    """

    def encode_batch_flat(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        texts = list(texts)
        parts = [SPECIAL_TOKEN_PATTERN.split(text) if "<" in text else [text] for text in texts]
        if all(len(p) == 1 for p in parts):
            return super().encode_batch_flat(texts)
        # re.split alternates text and matched tokens: even positions are text, odd ones special tokens.
        flat, offsets = super().encode_batch_flat([segment for p in parts for segment in p[0::2]])
        special_ids = {token: self.tokenizer.token_to_id(token) for token in (*FAIRSEQ_PREFIX, MASK_TOKEN)}
        documents, segment = [], 0
        for p in parts:
            pieces = []
            for index, part in enumerate(p):
                if index % 2:
                    pieces.append(np.array([special_ids[part]], dtype=np.int32))
                else:
                    pieces.append(flat[offsets[segment] : offsets[segment + 1]])
                    segment += 1
            documents.append(np.concatenate(pieces))
        document_offsets = np.zeros(len(documents) + 1, dtype=np.int64)
        np.cumsum([len(d) for d in documents], out=document_offsets[1:])
        return np.concatenate(documents).astype(np.int32, copy=False), document_offsets


class XLMRobertaTokenizer(SentencePieceTokenizer):
    """SentencePiece with XLM-R's special tokens and fairseq's ids (see the module docstring).

    `vocabulary_size()` is the model's piece count plus two (`<pad>` and `<mask>`);
    `special_token_ids` (never masked) are `<s>`, `<pad>`, `</s>` and `<unk>`.

    Args:
        proto: a serialized SentencePiece model (bytes) or the path of one, numbered as
            XLM-R's (`<unk>`=0, `<s>`=1, `</s>`=2, sentencepiece's defaults); or None to set
            it later.
        normalization: "keras_hub" (the default: special-token strings in raw text are
            ordinary text) or "transformers" (they become their ids); see the module docstring.
        **kwargs: `SentencePieceTokenizer`'s other arguments (sequence_length, add_bos,
            add_eos, name, config_file); `name` defaults to "xlm_roberta_tokenizer".

    Examples:

    >>> from mlm_cli.models.family_examples import SENTENCEPIECE_TEXTS as texts  # five short sentences
    >>> from mlm_cli.models import XLMRobertaTokenizer
    >>> tokenizer = XLMRobertaTokenizer.train_on(texts, vocabulary_size=18, model_type="word")
    >>> ids = tokenizer("the quick fox")
    >>> ids.tolist(), tokenizer.detokenize(ids)
    ([4, 16, 7], 'the quick fox')
    >>> tokenizer.vocabulary_size()  # the model's 18 pieces, <pad> and <mask>
    20
    >>> tokenizer.cls_token_id, tokenizer.pad_token_id, tokenizer.sep_token_id, tokenizer.mask_token_id
    (0, 1, 2, 19)
    >>> XLMRobertaTokenizer(proto=tokenizer.proto, normalization="transformers")("the <mask> fox").tolist()
    [4, 19, 7]
    """

    start_token = "<s>"
    end_token = "</s>"
    pad_token = "<pad>"
    mask_token = MASK_TOKEN
    trainer_special_pieces: dict[str, Any] = {}  # sentencepiece's own numbering, as XLM-R's model
    appends_pieces = False  # <mask> is the last id (keras_hub, transformers): an appended piece would take it

    def __init__(self, proto=None, normalization: str = "keras_hub", **kwargs: Any):
        self.normalization = check_normalization(normalization)
        super().__init__(proto=proto, **kwargs)
        if normalization == "transformers":
            self.encoder = SpecialTokenSplittingEncoder(self)

    def set_proto(self, proto) -> None:
        super().set_proto(proto)
        if self.processor.GetPieceSize() < len(FAIRSEQ_PREFIX):
            raise ValueError("the SentencePiece model has fewer pieces than XLM-RoBERTa's special tokens")

    @property
    def special_token_ids(self) -> list[int]:
        """Ids that masking never selects: `<s>`, `<pad>`, `</s>`, `<unk>` (keras_hub's list; `<mask>` is not in it)."""
        return list(range(len(FAIRSEQ_PREFIX)))

    # --- fairseq's ids --------------------------------------------------------------

    def vocabulary_size(self) -> int:
        """SentencePiece's pieces, plus `<pad>` and `<mask>`."""
        return self.processor.GetPieceSize() + 2

    def get_vocabulary(self) -> list[str]:
        return [*FAIRSEQ_PREFIX, *super().get_vocabulary()[3:], MASK_TOKEN]

    def token_to_id(self, token: str) -> int:
        if token == MASK_TOKEN:
            return self.vocabulary_size() - 1
        if token in FAIRSEQ_PREFIX:
            return FAIRSEQ_PREFIX.index(token)
        piece_id = super().token_to_id(token)
        return FAIRSEQ_PREFIX.index("<unk>") if piece_id == UNK_PIECE_ID else piece_id + 1

    def id_to_token(self, token_id: int) -> str:
        token_id = int(token_id)
        if not 0 <= token_id < self.vocabulary_size():
            raise ValueError(f"token id must be in [0, {self.vocabulary_size() - 1}], got {token_id}")
        if token_id == self.vocabulary_size() - 1:
            return MASK_TOKEN
        if token_id < len(FAIRSEQ_PREFIX):
            return FAIRSEQ_PREFIX[token_id]
        return super().id_to_token(token_id - 1)

    def map_ids(self, ids: np.ndarray) -> np.ndarray:
        """SentencePiece ids -> fairseq's: `<unk>` becomes 3, every other piece shifts up by one."""
        ids = np.asarray(ids, dtype=np.int32)
        return np.where(ids == UNK_PIECE_ID, np.int32(FAIRSEQ_PREFIX.index("<unk>")), ids + 1).astype(np.int32)

    def unmap_ids(self, ids: np.ndarray) -> np.ndarray:
        """fairseq's ids -> SentencePiece's, for decoding; `<mask>` is dropped, as keras_hub drops it."""
        ids = np.asarray(ids, dtype=np.int64)
        ids = ids[ids != self.vocabulary_size() - 1]
        fairseq_to_piece = np.array([1, UNK_PIECE_ID, 2, UNK_PIECE_ID])  # <s>, <pad>, </s>, <unk>
        return np.where(ids < len(FAIRSEQ_PREFIX), fairseq_to_piece[np.clip(ids, 0, 3)], ids - 1)
