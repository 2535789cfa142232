"""ESM's masked-PLM preprocessor: ESMTokenizer + <cls> ... <eos> packing + dynamic masking."""

from __future__ import annotations

from mlm_cli.models.esm.esm_tokenizer import ESMTokenizer
from mlm_cli.models.masked_lm_preprocessor import MaskedLMPreprocessor


class ESMMaskedPLMPreprocessor(MaskedLMPreprocessor):
    """Protein strings -> ESM masked-PLM batches (see MaskedLMPreprocessor).

    A sequence is packed as `<cls> residues <eos> <pad>...`, as keras_hub's start/end packer
    does; segment ids are produced for the shared batch layout and ignored by the model.

    Args:
        tokenizer: an `ESMTokenizer` with its vocabulary.
        The other arguments, and their defaults, are `MaskedLMPreprocessor`'s;
        `name` defaults to "esm_masked_plm_preprocessor".

    Examples:

    >>> from mlm_cli.models import ESMMaskedPLMPreprocessor, ESMTokenizer
    >>> vocabulary = ["<cls>", "<pad>", "<eos>", "<unk>", "L", "A", "G", "V", "S", "E",
    ...               "R", "T", "I", "D", "P", "K", "Q", "N", "M", "<mask>"]
    >>> tokenizer = ESMTokenizer(vocabulary=vocabulary)
    >>> packer = ESMMaskedPLMPreprocessor(tokenizer, sequence_length=8, mask_selection_rate=0.0)
    >>> x, y, sample_weight = packer("M K T A")  # no masking, so the packing shows
    >>> x["token_ids"].tolist()
    [0, 18, 15, 11, 5, 2, 1, 1]
    >>> preprocessor = ESMMaskedPLMPreprocessor(ESMTokenizer(vocabulary=vocabulary), sequence_length=8,
    ...                                         mask_selection_length=2, seed=0)
    >>> x, y, sample_weight = preprocessor(["M K T A Y", "G S L E"])
    >>> sorted(x), y.shape
    (['mask_positions', 'padding_mask', 'segment_ids', 'token_ids'], (2, 2))
    """

    tokenizer_cls = ESMTokenizer
