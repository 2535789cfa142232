"""RoFormerV2's masked-LM preprocessor: RoformerV2Tokenizer + [CLS]/[SEP] packing + dynamic masking."""

from __future__ import annotations

from mlm_cli.models.masked_lm_preprocessor import MaskedLMPreprocessor
from mlm_cli.models.roformer_v2.roformer_v2_tokenizer import RoformerV2Tokenizer


class RoformerV2MaskedLMPreprocessor(MaskedLMPreprocessor):
    """Strings -> RoFormerV2 masked-LM batches, packed like BERT's (see MaskedLMPreprocessor).

    The batches also carry `padding_mask` (mlm's batch contract); the model ignores it.

    Args:
        tokenizer: a `RoformerV2Tokenizer` with its vocabulary.
        The other arguments, and their defaults, are `MaskedLMPreprocessor`'s;
        `name` defaults to "roformer_v2_masked_lm_preprocessor".

    Examples:

    >>> from mlm_cli.models import RoformerV2MaskedLMPreprocessor, RoformerV2Tokenizer
    >>> vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "quick", "brown", "fox",
    ...               "jumps", "over", "lazy", "dog", "a", "cat", "sat", "on", "mat", "##s", "."]
    >>> preprocessor = RoformerV2MaskedLMPreprocessor(RoformerV2Tokenizer(vocabulary, lowercase=True),
    ...                                               sequence_length=8, mask_selection_length=2, seed=0)
    >>> x, y, sample_weight = preprocessor(["The quick brown fox.", "A cat sat on the mat."])
    >>> sorted(x), x["token_ids"].shape, y.shape
    (['mask_positions', 'padding_mask', 'segment_ids', 'token_ids'], (2, 8), (2, 2))
    """

    tokenizer_cls = RoformerV2Tokenizer
