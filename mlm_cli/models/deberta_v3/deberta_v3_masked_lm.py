"""DeBERTaV3 for masked language modelling."""

from __future__ import annotations

from mlm_cli.models.deberta_v3.deberta_v3_backbone import DebertaV3Backbone
from mlm_cli.models.deberta_v3.deberta_v3_masked_lm_preprocessor import DebertaV3MaskedLMPreprocessor
from mlm_cli.models.family_examples import append_to_doc, masked_lm_example, sentencepiece_setup
from mlm_cli.models.masked_lm import MaskedLM


@append_to_doc(masked_lm_example(
    "DebertaV3",
    sentencepiece_setup("DebertaV3", 19),
    "num_layers=1, num_heads=2, hidden_dim=8, intermediate_dim=16, max_sequence_length=16, "
    "bucket_size=4",
    ["the quick brown fox", "a cat sat on the mat"],
    "deberta_v3_extra_small_en",
))
class DebertaV3MaskedLM(MaskedLM):
    """DebertaV3Backbone + masked-LM head (dense + exact GELU + layer norm, tied output projection, bias).

    DeBERTa's pre-training used an enhanced mask decoder; keras_hub (and mlm) use this
    plain head instead, as transformers' DebertaV2ForMaskedLM does.

    The head's layer-norm epsilon is the backbone's `head_layer_norm_epsilon`.
    """

    backbone_cls = DebertaV3Backbone
    preprocessor_cls = DebertaV3MaskedLMPreprocessor
