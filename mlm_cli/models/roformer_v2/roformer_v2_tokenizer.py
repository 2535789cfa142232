"""RoFormerV2's WordPiece tokenizer: BERT's, under keras_hub's RoformerV2Tokenizer name (no keras needed)."""

from __future__ import annotations

import os
from collections.abc import Sequence

from mlm_cli.models.bert.bert_tokenizer import BertTokenizer


class RoformerV2Tokenizer(BertTokenizer):
    """WordPiece with [CLS], [SEP], [PAD], [MASK]; the same config keys and token ids as keras_hub's."""

    def __init__(
        self,
        vocabulary: Sequence[str] | str | os.PathLike | None = None,
        name: str = "roformer_v2_tokenizer",
        **kwargs,
    ):
        super().__init__(vocabulary=vocabulary, name=name, **kwargs)
