"""DeBERTaV3's masked-LM preprocessor: [CLS]/[SEP] packing and dynamic masking, without segment ids."""

from __future__ import annotations

import numpy as np

from mlm_cli.models.deberta_v3.deberta_v3_tokenizer import DebertaV3Tokenizer
from mlm_cli.models.masked_lm_preprocessor import MaskedLMPreprocessor


class DebertaV3MaskedLMPreprocessor(MaskedLMPreprocessor):
    """Strings -> DeBERTaV3 masked-LM batches (see MaskedLMPreprocessor).

    DeBERTaV3 has no segment embedding, so, as in keras_hub, `x` carries only
    `token_ids`, `padding_mask` and `mask_positions`.

    Args:
        tokenizer: a `DebertaV3Tokenizer` with its SentencePiece model.
        The other arguments, and their defaults, are `MaskedLMPreprocessor`'s;
        `name` defaults to "deberta_v3_masked_lm_preprocessor".

    Examples:

    >>> import io
    >>> import sentencepiece
    >>> model = io.BytesIO()  # DeBERTa's special pieces, and no [MASK] piece, as in DeBERTaV3's own model
    >>> texts = ["the quick brown fox", "the lazy dog", "a cat sat on the mat", "the fox jumps over the dog",
    ...          "a bird sang"]
    >>> sentencepiece.SentencePieceTrainer.train(
    ...     sentence_iterator=iter(texts), model_writer=model, model_type="word", vocab_size=19, minloglevel=2,
    ...     pad_id=0, bos_id=1, eos_id=2, unk_id=3, pad_piece="[PAD]", bos_piece="[CLS]",
    ...     eos_piece="[SEP]", unk_piece="[UNK]")
    >>> from mlm_cli.models import DebertaV3MaskedLMPreprocessor, DebertaV3Tokenizer
    >>> preprocessor = DebertaV3MaskedLMPreprocessor(DebertaV3Tokenizer(proto=model.getvalue()), sequence_length=8,
    ...                                              mask_selection_length=2, seed=0)
    >>> x, y, sample_weight = preprocessor(["the quick brown fox", "a cat sat on the mat"])
    >>> sorted(x), x["token_ids"].shape, y.shape
    (['mask_positions', 'padding_mask', 'token_ids'], (2, 8), (2, 2))
    """

    tokenizer_cls = DebertaV3Tokenizer

    def mask(self, features: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
        x, mask_ids, mask_weights = super().mask(features)
        x.pop("segment_ids")
        return x, mask_ids, mask_weights
