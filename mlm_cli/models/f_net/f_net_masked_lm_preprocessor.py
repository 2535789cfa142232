"""FNet's masked-LM preprocessor: FNetTokenizer + [CLS]/[SEP] packing + dynamic masking, without a padding mask."""

from __future__ import annotations

import numpy as np

from mlm_cli.models.f_net.f_net_tokenizer import FNetTokenizer
from mlm_cli.models.masked_lm_preprocessor import MaskedLMPreprocessor


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
