"""DistilBERT for masked language modelling."""

from __future__ import annotations

from mlm_cli.models.distil_bert.distil_bert_backbone import DistilBertBackbone
from mlm_cli.models.distil_bert.distil_bert_masked_lm_preprocessor import DistilBertMaskedLMPreprocessor
from mlm_cli.models.family_examples import append_to_doc, masked_lm_example, wordpiece_setup
from mlm_cli.models.masked_lm import MaskedLM


@append_to_doc(masked_lm_example(
    "DistilBert",
    wordpiece_setup("DistilBert"),
    "num_layers=1, num_heads=2, hidden_dim=8, intermediate_dim=16, max_sequence_length=16",
    ["The quick brown fox.", "A cat sat on the mat."],
    "distil_bert_base_en_uncased",
))
class DistilBertMaskedLM(MaskedLM):
    """DistilBertBackbone + masked-LM head (dense + exact GELU + layer norm, tied output projection, bias).

    The head is BERT's; its layer-norm epsilon comes from the backbone (keras_hub 1e-5, transformers 1e-12).
    """

    backbone_cls = DistilBertBackbone
    preprocessor_cls = DistilBertMaskedLMPreprocessor
    head_activation = "gelu"
