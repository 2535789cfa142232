"""DistilBERT's masked-LM preprocessor: [CLS]/[SEP] packing and dynamic masking, without segment ids."""

from __future__ import annotations

import numpy as np

from mlm_cli.models.distil_bert.distil_bert_tokenizer import DistilBertTokenizer
from mlm_cli.models.masked_lm_preprocessor import MaskedLMPreprocessor


class DistilBertMaskedLMPreprocessor(MaskedLMPreprocessor):
    """Strings -> DistilBERT masked-LM batches (see MaskedLMPreprocessor).

    DistilBERT has no segment embedding, so, as in keras_hub, `x` carries only
    `token_ids`, `padding_mask` and `mask_positions`.

    Args:
        tokenizer: a `DistilBertTokenizer` with its vocabulary.
        The other arguments, and their defaults, are `MaskedLMPreprocessor`'s;
        `name` defaults to "distil_bert_masked_lm_preprocessor".

    Examples:

    >>> from mlm_cli.models import DistilBertMaskedLMPreprocessor, DistilBertTokenizer
    >>> vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "quick", "brown", "fox",
    ...               "jumps", "over", "lazy", "dog", "a", "cat", "sat", "on", "mat", "##s", "."]
    >>> preprocessor = DistilBertMaskedLMPreprocessor(DistilBertTokenizer(vocabulary, lowercase=True),
    ...                                               sequence_length=8, mask_selection_length=2, seed=0)
    >>> x, y, sample_weight = preprocessor(["The quick brown fox.", "A cat sat on the mat."])
    >>> sorted(x), x["token_ids"].shape, y.shape
    (['mask_positions', 'padding_mask', 'token_ids'], (2, 8), (2, 2))
    """

    tokenizer_cls = DistilBertTokenizer

    def mask(self, features: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
        x, mask_ids, mask_weights = super().mask(features)
        x.pop("segment_ids")
        return x, mask_ids, mask_weights
