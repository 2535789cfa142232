"""ALBERT's masked-LM preprocessor: AlbertTokenizer + [CLS]/[SEP] packing + dynamic masking."""

from __future__ import annotations

from mlm_cli.models.albert.albert_tokenizer import AlbertTokenizer
from mlm_cli.models.masked_lm_preprocessor import MaskedLMPreprocessor


class AlbertMaskedLMPreprocessor(MaskedLMPreprocessor):
    """Strings -> ALBERT masked-LM batches (see MaskedLMPreprocessor).

    Rows are `[CLS] A [SEP] B [SEP] <pad>...`; `x` carries `token_ids`, `segment_ids`,
    `padding_mask` and `mask_positions`.

    Args:
        tokenizer: an `AlbertTokenizer` with its SentencePiece model.
        The other arguments, and their defaults, are `MaskedLMPreprocessor`'s;
        `name` defaults to "albert_masked_lm_preprocessor".

    Examples:

    >>> import io
    >>> import sentencepiece
    >>> model = io.BytesIO()
    >>> texts = ["the quick brown fox", "the lazy dog", "a cat sat on the mat", "the fox jumps over the dog",
    ...          "a bird sang"]
    >>> sentencepiece.SentencePieceTrainer.train(
    ...     sentence_iterator=iter(texts), model_writer=model, model_type="word", vocab_size=20, minloglevel=2,
    ...     pad_id=0, unk_id=1, bos_id=2, eos_id=3, pad_piece="<pad>", unk_piece="<unk>", bos_piece="[CLS]",
    ...     eos_piece="[SEP]", user_defined_symbols="[MASK]")
    >>> from mlm_cli.models import AlbertMaskedLMPreprocessor, AlbertTokenizer
    >>> preprocessor = AlbertMaskedLMPreprocessor(AlbertTokenizer(proto=model.getvalue()), sequence_length=8,
    ...                                           mask_selection_length=2, seed=0)
    >>> x, y, sample_weight = preprocessor(["the quick brown fox", "a cat sat on the mat"])
    >>> {key: value.shape for key, value in sorted(x.items())}
    {'mask_positions': (2, 2), 'padding_mask': (2, 8), 'segment_ids': (2, 8), 'token_ids': (2, 8)}
    """

    tokenizer_cls = AlbertTokenizer
