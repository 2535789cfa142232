"""XLM-RoBERTa's weights sit where RoBERTa's do in keras_hub's `.weights.h5` files; only layer names differ."""

from __future__ import annotations

from mlm_cli.models.roberta import roberta_weights
from mlm_cli.models.roberta.roberta_weights import (
    backbone_group_names,
    backbone_shapes,
    export_backbone,
    export_head,
    head_shapes,
    import_backbone,
    import_head,
)

__all__ = [
    "backbone_group_names",
    "backbone_shapes",
    "export_backbone",
    "export_head",
    "head_shapes",
    "import_backbone",
    "import_head",
    "task_group_names",
]


def task_group_names() -> dict[str, str]:
    """keras_hub's `vars` groups in task.weights.h5, named after XLM-RoBERTa's task, preprocessor and tokenizer."""
    return roberta_weights.task_group_names("xlm_roberta")
