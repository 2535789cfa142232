"""FNet's masked-LM preprocessor: FNetTokenizer + [CLS]/[SEP] packing + dynamic masking, without a padding mask."""

from __future__ import annotations

import numpy as np

from mlm_cli.models.f_net.f_net_tokenizer import FNetTokenizer
from mlm_cli.models.masked_lm_preprocessor import MaskedLMPreprocessor


class FNetMaskedLMPreprocessor(MaskedLMPreprocessor):
    """Strings -> FNet masked-LM batches (see MaskedLMPreprocessor).

    FNet mixes every position, padding included, so, as in keras_hub, `x` carries
    `token_ids`, `segment_ids` and `mask_positions` but no `padding_mask`.

    Args:
        tokenizer: an `FNetTokenizer` with its SentencePiece model.
        The other arguments, and their defaults, are `MaskedLMPreprocessor`'s;
        `name` defaults to "f_net_masked_lm_preprocessor".

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
    >>> from mlm_cli.models import FNetMaskedLMPreprocessor, FNetTokenizer
    >>> preprocessor = FNetMaskedLMPreprocessor(FNetTokenizer(proto=model.getvalue()), sequence_length=8,
    ...                                         mask_selection_length=2, seed=0)
    >>> x, y, sample_weight = preprocessor(["the quick brown fox", "a cat sat on the mat"])
    >>> sorted(x), x["token_ids"].shape, y.shape
    (['mask_positions', 'segment_ids', 'token_ids'], (2, 8), (2, 2))
    """

    tokenizer_cls = FNetTokenizer

    def mask(self, features: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
        x, mask_ids, mask_weights = super().mask(features)
        x.pop("padding_mask")
        return x, mask_ids, mask_weights
