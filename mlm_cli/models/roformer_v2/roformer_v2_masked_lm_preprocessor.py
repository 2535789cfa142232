"""RoFormerV2's masked-LM preprocessor: RoformerV2Tokenizer + [CLS]/[SEP] packing + dynamic masking."""

from __future__ import annotations

from mlm_cli.models.family_examples import append_to_doc, preprocessor_doc, wordpiece_setup
from mlm_cli.models.masked_lm_preprocessor import MaskedLMPreprocessor
from mlm_cli.models.roformer_v2.roformer_v2_tokenizer import RoformerV2Tokenizer


@append_to_doc(preprocessor_doc(
    "RoformerV2",
    "vocabulary",
    wordpiece_setup("RoformerV2"),
    ["The quick brown fox.", "A cat sat on the mat."],
    ("mask_positions", "padding_mask", "segment_ids", "token_ids"),
))
class RoformerV2MaskedLMPreprocessor(MaskedLMPreprocessor):
    """Strings -> RoFormerV2 masked-LM batches, packed like BERT's (see MaskedLMPreprocessor).

    The batches also carry `padding_mask` (mlm's batch contract); the model ignores it.
    """

    tokenizer_cls = RoformerV2Tokenizer
