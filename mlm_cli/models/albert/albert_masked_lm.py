"""ALBERT for masked language modelling."""

from __future__ import annotations

from mlm_cli.models.albert.albert_backbone import AlbertBackbone
from mlm_cli.models.albert.albert_masked_lm_head import AlbertMaskedLMHead
from mlm_cli.models.albert.albert_masked_lm_preprocessor import AlbertMaskedLMPreprocessor
from mlm_cli.models.bert.bert_backbone import FEEDFORWARD_ACTIVATIONS
from mlm_cli.models.masked_lm import MaskedLM


class AlbertMaskedLM(MaskedLM):
    """AlbertBackbone + masked-LM head (dense hidden -> embedding width with the backbone's
    GELU, layer norm, tied [V, embedding_dim] output projection, bias)."""

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
