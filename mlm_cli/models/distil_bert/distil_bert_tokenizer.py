"""DistilBERT's WordPiece tokenizer: BERT's, under keras_hub's DistilBertTokenizer name (no keras needed)."""

from __future__ import annotations

import os
from collections.abc import Sequence

from mlm_cli.models.bert.bert_tokenizer import BertTokenizer


class DistilBertTokenizer(BertTokenizer):
    """WordPiece tokenizer with BERT's special tokens ([CLS], [SEP], [PAD], [MASK]).

    keras_hub's DistilBertTokenizer is a WordPieceTokenizer with the same special tokens
    and config keys as its BertTokenizer, so only the default layer name differs.

    Args:
        vocabulary: a list of tokens, the path of a one-token-a-line file, or None.
        lowercase: whether text is lowercased. Default False.
        name: default "distil_bert_tokenizer".
        **kwargs: the other `BertTokenizer` arguments (keyword only), with its defaults.

    Examples:

    >>> from mlm_cli.models import DistilBertTokenizer
    >>> from mlm_cli.models.family_examples import WORDPIECE_WORDS as vocabulary  # 20 tokens, [PAD] first
    >>> tokenizer = DistilBertTokenizer(vocabulary, lowercase=True)
    >>> tokenizer("The lazy dogs.").tolist(), tokenizer.name
    ([5, 11, 12, 18, 19], 'distil_bert_tokenizer')
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
