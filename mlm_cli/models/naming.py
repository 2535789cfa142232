"""keras_hub's naming convention: class names to snake_case module and layer names."""

from __future__ import annotations

import re

_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def snake_case(class_name: str) -> str:
    """BertMaskedLMPreprocessor -> bert_masked_lm_preprocessor, XLMRobertaBackbone -> xlm_roberta_backbone."""
    return _BOUNDARY.sub("_", class_name).lower()
