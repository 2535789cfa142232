"""RoFormerV2's WordPiece tokenizer: BERT's, under keras_hub's RoformerV2Tokenizer name (no keras needed)."""

from __future__ import annotations

import os
from collections.abc import Sequence

from mlm_cli.models.bert.bert_tokenizer import BertTokenizer


class RoformerV2Tokenizer(BertTokenizer):
    """WordPiece with [CLS], [SEP], [PAD], [MASK]; the same config keys and token ids as keras_hub's.

    Args:
        vocabulary: a list of tokens, the path of a one-token-a-line file, or None. Put
            [PAD] at id 0: `RoformerV2Backbone` treats id 0 as padding.
        name: default "roformer_v2_tokenizer".
        **kwargs: the other `BertTokenizer` arguments (lowercase, strip_accents, split,
            suffix_indicator, oov_token, special_tokens, special_tokens_in_strings,
            sequence_length, config_file, normalization), with its defaults.

    Examples:

    >>> from mlm_cli.models import RoformerV2Tokenizer
    >>> from mlm_cli.models.family_examples import WORDPIECE_WORDS as vocabulary  # 20 tokens, [PAD] first
    >>> tokenizer = RoformerV2Tokenizer(vocabulary, lowercase=True)
    >>> tokenizer("The quick brown fox.").tolist(), tokenizer.pad_token_id
    ([5, 6, 7, 8, 19], 0)
    """

    def __init__(
        self,
        vocabulary: Sequence[str] | str | os.PathLike | None = None,
        name: str = "roformer_v2_tokenizer",
        **kwargs,
    ):
        super().__init__(vocabulary=vocabulary, name=name, **kwargs)
