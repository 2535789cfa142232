"""FNet's masked-LM preprocessor: FNetTokenizer + [CLS]/[SEP] packing + dynamic masking, without a padding mask."""

from __future__ import annotations

import numpy as np

from mlm_cli.models.f_net.f_net_tokenizer import FNetTokenizer
from mlm_cli.models.family_examples import append_to_doc, preprocessor_doc, sentencepiece_setup
from mlm_cli.models.masked_lm_preprocessor import MaskedLMPreprocessor


@append_to_doc(preprocessor_doc(
    "FNet",
    "SentencePiece model",
    sentencepiece_setup("FNet", 20),
    ["the quick brown fox", "a cat sat on the mat"],
    ("mask_positions", "segment_ids", "token_ids"),
))
class FNetMaskedLMPreprocessor(MaskedLMPreprocessor):
    """Strings -> FNet masked-LM batches (see MaskedLMPreprocessor).

    FNet mixes every position, padding included, so, as in keras_hub, `x` carries
    `token_ids`, `segment_ids` and `mask_positions` but no `padding_mask`.
    """

    tokenizer_cls = FNetTokenizer

    def mask(self, features: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
        x, mask_ids, mask_weights = super().mask(features)
        x.pop("padding_mask")
        return x, mask_ids, mask_weights
