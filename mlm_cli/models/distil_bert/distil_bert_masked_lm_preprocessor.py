"""DistilBERT's masked-LM preprocessor: [CLS]/[SEP] packing and dynamic masking, without segment ids."""

from __future__ import annotations

import numpy as np

from mlm_cli.models.distil_bert.distil_bert_tokenizer import DistilBertTokenizer
from mlm_cli.models.family_examples import append_to_doc, preprocessor_doc, wordpiece_setup
from mlm_cli.models.masked_lm_preprocessor import MaskedLMPreprocessor


@append_to_doc(preprocessor_doc(
    "DistilBert",
    "vocabulary",
    wordpiece_setup("DistilBert"),
    ["The quick brown fox.", "A cat sat on the mat."],
    ("mask_positions", "padding_mask", "token_ids"),
))
class DistilBertMaskedLMPreprocessor(MaskedLMPreprocessor):
    """Strings -> DistilBERT masked-LM batches (see MaskedLMPreprocessor).

    DistilBERT has no segment embedding, so, as in keras_hub, `x` carries only
    `token_ids`, `padding_mask` and `mask_positions`.
    """

    tokenizer_cls = DistilBertTokenizer

    def mask(self, features: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
        x, mask_ids, mask_weights = super().mask(features)
        x.pop("segment_ids")
        return x, mask_ids, mask_weights
