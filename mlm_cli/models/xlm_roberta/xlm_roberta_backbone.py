"""The XLM-RoBERTa encoder: RoBERTa's network under its own name (a larger vocabulary is only a size)."""

from __future__ import annotations

from mlm_cli.models.family_examples import append_to_doc, backbone_example
from mlm_cli.models.roberta.roberta_backbone import RobertaBackbone


@append_to_doc(backbone_example(
    "XLMRoberta", "num_layers=1, num_heads=2, hidden_dim=8, intermediate_dim=16, max_sequence_length=16",
    {"token_ids": 'np.array([[0, 4, 16, 7, 2, 1, 1, 1], [0, 5, 10, 18, 14, 4, 13, 2]], "int32")',
      "padding_mask": "np.array([[1, 1, 1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1, 1, 1]], bool)"},
    "{'sequence_output': (2, 8, 8)}",
))
class XLMRobertaBackbone(RobertaBackbone):
    """XLM-RoBERTa encoder network; see RobertaBackbone for inputs, outputs and config.

    Args:
        The same as `RobertaBackbone` (vocabulary_size, num_layers, num_heads, hidden_dim,
        intermediate_dim, dropout=0.1, max_sequence_length=512, dtype=None); `name`
        defaults to "xlm_roberta_backbone".
    """
