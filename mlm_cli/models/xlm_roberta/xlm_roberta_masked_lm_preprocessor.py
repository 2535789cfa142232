"""XLM-RoBERTa's masked-LM preprocessor: XLMRobertaTokenizer + RoBERTa's `<s> A </s></s> B </s>` packing + masking."""

from __future__ import annotations

from mlm_cli.models.roberta.roberta_masked_lm_preprocessor import RobertaMaskedLMPreprocessor
from mlm_cli.models.xlm_roberta.xlm_roberta_tokenizer import XLMRobertaTokenizer


class XLMRobertaMaskedLMPreprocessor(RobertaMaskedLMPreprocessor):
    """Strings -> XLM-RoBERTa masked-LM batches (see RobertaMaskedLMPreprocessor).

    Rows are packed as RoBERTa's: `<s> A </s></s> B </s> <pad>...`.

    Args:
        tokenizer: an `XLMRobertaTokenizer` with its SentencePiece model.
        The other arguments, and their defaults, are `MaskedLMPreprocessor`'s;
        `name` defaults to "xlm_roberta_masked_lm_preprocessor".

    Examples:

    >>> import io
    >>> import sentencepiece
    >>> model = io.BytesIO()  # sentencepiece's default numbering, as XLM-R's model: <unk>=0, <s>=1, </s>=2
    >>> texts = ["the quick brown fox", "the lazy dog", "a cat sat on the mat", "the fox jumps over the dog",
    ...          "a bird sang"]
    >>> sentencepiece.SentencePieceTrainer.train(
    ...     sentence_iterator=iter(texts), model_writer=model, model_type="word", vocab_size=18, minloglevel=2)
    >>> from mlm_cli.models import XLMRobertaMaskedLMPreprocessor, XLMRobertaTokenizer
    >>> tokenizer = XLMRobertaTokenizer(proto=model.getvalue())
    >>> packer = XLMRobertaMaskedLMPreprocessor(tokenizer, sequence_length=10, mask_selection_rate=0.0)
    >>> x, y, sample_weight = packer(("the quick fox", "a cat"))  # no masking: the packing shows
    >>> x["token_ids"].tolist()
    [0, 4, 16, 7, 2, 2, 5, 10, 2, 1]
    >>> preprocessor = XLMRobertaMaskedLMPreprocessor(tokenizer, sequence_length=10, mask_selection_length=2, seed=0)
    >>> x, y, sample_weight = preprocessor(["the quick brown fox", "a cat sat on the mat"])
    >>> sorted(x), y.shape
    (['mask_positions', 'padding_mask', 'segment_ids', 'token_ids'], (2, 2))
    """

    tokenizer_cls = XLMRobertaTokenizer
