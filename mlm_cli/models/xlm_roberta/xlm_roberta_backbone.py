"""The XLM-RoBERTa encoder: RoBERTa's network under its own name (a larger vocabulary is only a size)."""

from __future__ import annotations

from mlm_cli.models.roberta.roberta_backbone import RobertaBackbone


class XLMRobertaBackbone(RobertaBackbone):
    """XLM-RoBERTa encoder network; see RobertaBackbone for inputs, outputs and config."""
