"""ESM for masked protein language modelling."""

from __future__ import annotations

import logging

from mlm_cli.models.esm.esm_backbone import ESMBackbone, resolve_activation
from mlm_cli.models.esm.esm_masked_plm_head import ESMMaskedPLMHead
from mlm_cli.models.esm.esm_masked_plm_preprocessor import ESMMaskedPLMPreprocessor
from mlm_cli.models.family_examples import append_to_doc, masked_lm_example, protein_setup
from mlm_cli.models.masked_lm import MaskedLM

log = logging.getLogger("mlm")


@append_to_doc(masked_lm_example(
    "ESM",
    protein_setup("ESM"),
    "num_layers=1, num_heads=2, hidden_dim=8, intermediate_dim=16, "
    "pad_token_id=tokenizer.pad_token_id",
    ["M K T A Y", "G S L E"],
    "esm2_t6_8M",
    task="MaskedPLM", variable="masked_plm",
))
class ESMMaskedPLM(MaskedLM):
    """ESMBackbone + masked-PLM head (dense with the backbone's activation, layer norm, own projection, bias).

    Unlike the other families, the head's output projection is a weight of its own, not the
    token embedding. Logs a warning when the tokenizer's pad id differs from the
    backbone's `pad_token_id` (attention would then skip real tokens).
    """

    backbone_cls = ESMBackbone
    preprocessor_cls = ESMMaskedPLMPreprocessor

    def __init__(self, backbone: ESMBackbone, preprocessor: ESMMaskedPLMPreprocessor | None = None, **kwargs):
        super().__init__(backbone, preprocessor=preprocessor, **kwargs)
        tokenizer = getattr(preprocessor, "tokenizer", None)
        if tokenizer is not None and tokenizer.encoder is not None and tokenizer.pad_token_id != backbone.pad_token_id:
            # keras_hub's ESMBackbone defaults to pad_token_id 0, which is <cls> in ESM's vocabulary.
            log.warning("the backbone masks token %d as padding but the tokenizer pads with %d: attention will skip "
                        "real tokens and attend to padding (set the backbone's pad_token_id)", backbone.pad_token_id,
                        tokenizer.pad_token_id)

    def make_head(self, backbone: ESMBackbone) -> ESMMaskedPLMHead:
        return ESMMaskedPLMHead(
            backbone.hidden_dim,
            backbone.vocabulary_size,
            activation=resolve_activation(backbone.activation),
            layer_norm_epsilon=backbone.layer_norm_eps,
            kernel_initializer=self.head_initializer(),
            dtype=backbone.dtype_policy,
            name="masked_lm_head",
        )
