"""ALBERT for masked language modelling."""

from __future__ import annotations

from mlm_cli.models.albert.albert_backbone import AlbertBackbone
from mlm_cli.models.albert.albert_masked_lm_head import AlbertMaskedLMHead
from mlm_cli.models.albert.albert_masked_lm_preprocessor import AlbertMaskedLMPreprocessor
from mlm_cli.models.bert.bert_backbone import FEEDFORWARD_ACTIVATIONS
from mlm_cli.models.family_examples import append_to_doc, masked_lm_example, sentencepiece_setup
from mlm_cli.models.masked_lm import MaskedLM


@append_to_doc(masked_lm_example(
    "Albert",
    sentencepiece_setup("Albert", 20),
    "num_layers=1, num_heads=2, embedding_dim=4, hidden_dim=8, intermediate_dim=16, "
    "max_sequence_length=16",
    ["the quick brown fox", "a cat sat on the mat"],
    "albert_base_en_uncased",
))
class AlbertMaskedLM(MaskedLM):
    """AlbertBackbone + masked-LM head (dense hidden -> embedding width with the backbone's
    GELU, layer norm, tied [V, embedding_dim] output projection, bias).

    The head's activation is the backbone's `feedforward_activation` and its layer-norm
    epsilon the backbone's `head_layer_norm_epsilon`.
    """

    backbone_cls = AlbertBackbone
    preprocessor_cls = AlbertMaskedLMPreprocessor

    def make_head(self, backbone: AlbertBackbone) -> AlbertMaskedLMHead:
        return AlbertMaskedLMHead(
            backbone.token_embedding,
            input_dim=backbone.hidden_dim,
            activation=FEEDFORWARD_ACTIVATIONS[backbone.feedforward_activation],
            layer_norm_epsilon=backbone.head_layer_norm_epsilon,
            kernel_initializer=self.head_initializer(),
            dtype=backbone.dtype_policy,
            name="masked_lm_head",
        )
