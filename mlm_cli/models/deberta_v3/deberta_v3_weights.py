"""Where DeBERTaV3's weights live in keras_hub's `.weights.h5` files, and how they map onto mlm's layers.

Encoder layers are stored as keras_hub's TransformerEncoder stores them (encoder_layout.py:
query/key/value kernels per head, split from and joined into mlm's fused projection), under
DisentangledAttentionEncoder's names. The head is keras_hub's MaskedLMHead (masked_lm_head_layout.py).
"""

from __future__ import annotations

import numpy as np

from mlm_cli.models.preset import masked_lm_head_layout, task_layout
from mlm_cli.models.preset.encoder_layout import EncoderNaming, encoder_shapes, export_encoders, import_encoders
from mlm_cli.models.preset.variable_pairs import export_pairs, import_pairs

# The head is keras_hub's MaskedLMHead, stored as every such family stores it.
export_head = masked_lm_head_layout.export_head
head_shapes = masked_lm_head_layout.head_shapes
import_head = masked_lm_head_layout.import_head

# keras_hub's DisentangledAttentionEncoder: TransformerEncoder's weights, other names.
ENCODER = EncoderNaming("disentangled_attention_encoder", "_", per_head_output=False)
encoder_prefix = ENCODER.prefix


def backbone_shapes(config: dict) -> dict[str, tuple[int, ...]]:
    """Every backbone dataset keras_hub writes for this config, with its shape."""
    v, h = config["vocabulary_size"], config["hidden_dim"]
    return {
        "layers/reversible_embedding/vars/0": (v, h),
        "layers/layer_normalization/vars/0": (h,),
        "layers/layer_normalization/vars/1": (h,),
        "layers/relative_embedding/vars/0": (2 * config["bucket_size"], h),
        "layers/relative_embedding/layer_norm/vars/0": (h,),
        "layers/relative_embedding/layer_norm/vars/1": (h,),
        **encoder_shapes(config, ENCODER),
    }


def _pairs(backbone) -> list[tuple[str, object]]:
    """(keras_hub path, mlm variable) for every embedding weight."""
    relative = backbone.relative_embedding
    return [
        ("layers/reversible_embedding/vars/0", backbone.token_embedding.embeddings),
        ("layers/layer_normalization/vars/0", backbone.embeddings_norm.gamma),
        ("layers/layer_normalization/vars/1", backbone.embeddings_norm.beta),
        ("layers/relative_embedding/vars/0", relative.embeddings),
        ("layers/relative_embedding/layer_norm/vars/0", relative.layer_norm.gamma),
        ("layers/relative_embedding/layer_norm/vars/1", relative.layer_norm.beta),
    ]


def export_backbone(backbone) -> dict[str, np.ndarray]:
    """The backbone's weights as keras_hub's model.weights.h5 datasets."""
    arrays = export_pairs(_pairs(backbone))
    arrays.update(export_encoders(backbone.encoder_blocks, backbone.hidden_dim, backbone.num_heads, ENCODER))
    return arrays


def import_backbone(backbone, arrays: dict[str, np.ndarray]) -> None:
    """Assign keras_hub-layout arrays (already shape-checked) to the backbone's variables."""
    import_pairs(_pairs(backbone), arrays)
    import_encoders(backbone.encoder_blocks, arrays, backbone.hidden_dim, ENCODER)


def backbone_group_names(config: dict) -> dict[str, str]:
    """keras_hub's `vars` groups (with their layer names) in model.weights.h5, empty ones included."""
    names = {
        "vars": "deberta_v3_backbone",
        "layers/dropout/vars": "embeddings_dropout",
        "layers/input_layer/vars": "token_ids",
        "layers/input_layer_1/vars": "padding_mask",
        "layers/layer_normalization/vars": "embeddings_layer_norm",
        "layers/relative_embedding/vars": "rel_embedding",
        "layers/relative_embedding/layer_norm/vars": "rel_embeddings_layer_norm",
        "layers/reversible_embedding/vars": "token_embedding",
    }
    for k in range(config["num_layers"]):
        p = encoder_prefix(k)
        names[f"{p}/vars"] = f"disentangled_attention_encoder_layer_{k}"
        for group, name in (
            ("_feedforward_dropout", "feedforward_dropout"),
            ("_feedforward_intermediate_dense", "feedforward_intermediate_dense"),
            ("_feedforward_layer_norm", "feedforward_layer_norm"),
            ("_feedforward_output_dense", "feedforward_output_dense"),
            ("_self_attention_dropout", "self_attention_dropout"),
            ("_self_attention_layer", "self_attention_layer"),
            ("_self_attention_layer/_attn_dropout_layer", "attention_dropout"),
            ("_self_attention_layer/_key_dense", "key"),
            ("_self_attention_layer/_output_dense", "attention_output"),
            # An unnamed Keras layer: numbered per process, as in a fresh keras_hub session.
            ("_self_attention_layer/_position_dropout_layer", f"dropout_{k}" if k else "dropout"),
            ("_self_attention_layer/_query_dense", "query"),
            ("_self_attention_layer/_softmax", "attention_softmax"),
            ("_self_attention_layer/_value_dense", "value"),
            ("_self_attention_layer_norm", "self_attention_layer_norm"),
        ):
            names[f"{p}/{group}/vars"] = name
    return names


def task_group_names() -> dict[str, str]:
    """keras_hub's `vars` groups in task.weights.h5 (head and stateless preprocessor layers)."""
    return task_layout.task_group_names("deberta_v3")
