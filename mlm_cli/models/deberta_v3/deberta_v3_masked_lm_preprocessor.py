"""DeBERTaV3's masked-LM preprocessor: [CLS]/[SEP] packing and dynamic masking, without segment ids."""

from __future__ import annotations

import numpy as np

from mlm_cli.models.deberta_v3.deberta_v3_tokenizer import DebertaV3Tokenizer
from mlm_cli.models.family_examples import append_to_doc, preprocessor_doc, sentencepiece_setup
from mlm_cli.models.masked_lm_preprocessor import MaskedLMPreprocessor


@append_to_doc(preprocessor_doc(
    "DebertaV3",
    "SentencePiece model",
    sentencepiece_setup("DebertaV3", 19),
    ["the quick brown fox", "a cat sat on the mat"],
    ("mask_positions", "padding_mask", "token_ids"),
))
class DebertaV3MaskedLMPreprocessor(MaskedLMPreprocessor):
    """Strings -> DeBERTaV3 masked-LM batches (see MaskedLMPreprocessor).

    DeBERTaV3 has no segment embedding, so, as in keras_hub, `x` carries only
    `token_ids`, `padding_mask` and `mask_positions`.
    """

    tokenizer_cls = DebertaV3Tokenizer

    def mask(self, features: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
        x, mask_ids, mask_weights = super().mask(features)
        x.pop("segment_ids")
        return x, mask_ids, mask_weights
