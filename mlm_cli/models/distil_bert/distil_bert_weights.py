"""Where DistilBERT's weights live in keras_hub's `.weights.h5` files: the token-and-position
layout (token_position_layout.py) with keras_hub's MaskedLMHead (masked_lm_head_layout.py)."""

from __future__ import annotations

from mlm_cli.models.preset import masked_lm_head_layout, task_layout, token_position_layout

backbone_shapes = token_position_layout.backbone_shapes
export_backbone, import_backbone = token_position_layout.export_backbone, token_position_layout.import_backbone
head_shapes, export_head = masked_lm_head_layout.head_shapes, masked_lm_head_layout.export_head
import_head = masked_lm_head_layout.import_head


def backbone_group_names(config: dict) -> dict[str, str]:
    """keras_hub's `vars` groups (with their layer names) in model.weights.h5, empty ones included."""
    return token_position_layout.group_names("distil_bert_backbone", "token_and_position_embedding",
                                             config["num_layers"])


def task_group_names() -> dict[str, str]:
    """keras_hub's `vars` groups in task.weights.h5 (head and stateless preprocessor layers)."""
    return task_layout.task_group_names("distil_bert")
