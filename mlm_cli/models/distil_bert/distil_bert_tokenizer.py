"""DistilBERT's WordPiece tokenizer: BERT's, under keras_hub's DistilBertTokenizer name (no keras needed)."""

from __future__ import annotations

import os
from collections.abc import Sequence

from mlm_cli.models.bert.bert_tokenizer import BertTokenizer


class DistilBertTokenizer(BertTokenizer):
    """WordPiece tokenizer with BERT's special tokens ([CLS], [SEP], [PAD], [MASK]).

    keras_hub's DistilBertTokenizer is a WordPieceTokenizer with the same special tokens
    and config keys as its BertTokenizer, so only the default layer name differs.
    """

    def __init__(
        self,
        vocabulary: Sequence[str] | str | os.PathLike | None = None,
        lowercase: bool = False,
        *,
        name: str = "distil_bert_tokenizer",
        **kwargs,
    ):
        super().__init__(vocabulary, lowercase, name=name, **kwargs)
