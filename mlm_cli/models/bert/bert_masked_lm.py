"""BERT for masked language modelling."""

from __future__ import annotations

from mlm_cli.models.bert.bert_backbone import BertBackbone
from mlm_cli.models.bert.bert_masked_lm_preprocessor import BertMaskedLMPreprocessor
from mlm_cli.models.family_examples import append_to_doc, masked_lm_example, wordpiece_setup
from mlm_cli.models.masked_lm import MaskedLM

FINE_TUNING = """A pretrained model, fine-tuned on raw strings (downloads the preset; not run here):

    masked_lm = BertMaskedLM.from_preset("bert_tiny_en_uncased", sequence_length=128)
    masked_lm.compile()
    masked_lm.fit(["The quick brown fox jumped.", "I forgot my homework."], batch_size=2)
    masked_lm.save_to_preset("my_bert")
"""

@append_to_doc(masked_lm_example(
    "Bert",
    wordpiece_setup("Bert"),
    "num_layers=1, num_heads=2, hidden_dim=8, intermediate_dim=16, max_sequence_length=16",
    ["The quick brown fox.", "A cat sat on the mat."],
    None,
    more=FINE_TUNING,
))
class BertMaskedLM(MaskedLM):
    """BertBackbone + masked-LM head (dense + GELU + layer norm, tied output projection, bias).

    The head's dense layer keeps the hidden width, its layer-norm epsilon is the backbone's
    `head_layer_norm_epsilon`, and its output projection reuses the token embedding. See
    `MaskedLM` for compile, fit and presets.
    """

    backbone_cls = BertBackbone
    preprocessor_cls = BertMaskedLMPreprocessor
