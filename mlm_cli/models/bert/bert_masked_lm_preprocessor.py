"""BERT's masked-LM preprocessor: BertTokenizer + [CLS]/[SEP] packing + dynamic masking."""

from __future__ import annotations

from mlm_cli.models.bert.bert_tokenizer import BertTokenizer
from mlm_cli.models.masked_lm_preprocessor import MaskedLMPreprocessor


class BertMaskedLMPreprocessor(MaskedLMPreprocessor):
    """Strings -> BERT masked-LM batches (see MaskedLMPreprocessor).

    Rows are `[CLS] A [SEP] B [SEP] [PAD]...`; `x` carries `token_ids`, `segment_ids`,
    `padding_mask` and `mask_positions`.

    Args:
        tokenizer: a `BertTokenizer` with its vocabulary.
        The other arguments, and their defaults, are `MaskedLMPreprocessor`'s
        (sequence_length=512, truncate="round_robin", mask_selection_rate=0.15,
        mask_selection_length=96, mask_token_rate=0.8, random_token_rate=0.1, seed=None);
        `name` defaults to "bert_masked_lm_preprocessor".

    Examples:

    >>> from mlm_cli.models import BertMaskedLMPreprocessor, BertTokenizer
    >>> vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "quick", "brown", "fox",
    ...               "jumps", "over", "lazy", "dog", "a", "cat", "sat", "on", "mat", "##s", "."]
    >>> preprocessor = BertMaskedLMPreprocessor(BertTokenizer(vocabulary=vocabulary, lowercase=True),
    ...                                         sequence_length=8, mask_selection_length=2, seed=0)
    >>> x, y, sample_weight = preprocessor(["The quick brown fox.", "A cat sat on the mat."])
    >>> {key: value.shape for key, value in sorted(x.items())}
    {'mask_positions': (2, 2), 'padding_mask': (2, 8), 'segment_ids': (2, 8), 'token_ids': (2, 8)}
    >>> y.shape, sample_weight.shape
    ((2, 2), (2, 2))

    Loading the preprocessor of a preset (its tokenizer included; not run here):

        preprocessor = BertMaskedLMPreprocessor.from_preset("bert_tiny_en_uncased", sequence_length=128)
    """

    tokenizer_cls = BertTokenizer
