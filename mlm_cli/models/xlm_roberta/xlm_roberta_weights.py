"""XLM-RoBERTa's weights sit where RoBERTa's do in keras_hub's `.weights.h5` files; only layer names differ."""

from __future__ import annotations

from mlm_cli.models.roberta import roberta_weights

backbone_shapes = roberta_weights.backbone_shapes
backbone_group_names = roberta_weights.backbone_group_names
export_backbone, import_backbone = roberta_weights.export_backbone, roberta_weights.import_backbone
head_shapes = roberta_weights.head_shapes
export_head, import_head = roberta_weights.export_head, roberta_weights.import_head


def task_group_names() -> dict[str, str]:
    """keras_hub's `vars` groups in task.weights.h5, named after XLM-RoBERTa's task, preprocessor and tokenizer."""
    return roberta_weights.task_group_names("xlm_roberta")
