"""(transformers name, keras_hub path, transform) lists built from layer names, for the converters' weight tables."""

from __future__ import annotations

from collections.abc import Mapping

from mlm_cli.models.convert.weight_transforms import (
    SAME,
    TRANSPOSED,
    Transform,
    bias_to_heads,
    kernel_from_heads,
    kernel_to_heads,
)

Names = list[tuple[str, str, Transform]]

# keras_hub's TransformerEncoder sublayers (BERT, DistilBERT, RoBERTa, XLM-RoBERTa, ALBERT), by role.
TRANSFORMER_ENCODER = {
    "query": "_self_attention_layer/query_dense",
    "key": "_self_attention_layer/key_dense",
    "value": "_self_attention_layer/value_dense",
    "attention_output": "_self_attention_layer/output_dense",
    "attention_norm": "_self_attention_layer_norm",
    "intermediate": "_feedforward_intermediate_dense",
    "output": "_feedforward_output_dense",
    "output_norm": "_feedforward_layer_norm",
}
# transformers' BERT encoder layer (RoBERTa, XLM-RoBERTa and ESM name theirs alike), by role.
BERT_LAYER = {
    "query": "attention.self.query",
    "key": "attention.self.key",
    "value": "attention.self.value",
    "attention_output": "attention.output.dense",
    "attention_norm": "attention.output.LayerNorm",
    "intermediate": "intermediate.dense",
    "output": "output.dense",
    "output_norm": "output.LayerNorm",
}


# transformers' BERT embeddings (ALBERT's too) <-> keras_hub's BERT-style token, position and segment embeddings.
BERT_EMBEDDINGS: Names = [
    ("embeddings.word_embeddings.weight", "layers/reversible_embedding/vars/0", SAME),
    ("embeddings.position_embeddings.weight", "layers/position_embedding/vars/0", SAME),
    ("embeddings.token_type_embeddings.weight", "layers/embedding/vars/0", SAME),
    ("embeddings.LayerNorm.weight", "layers/layer_normalization/vars/0", SAME),
    ("embeddings.LayerNorm.bias", "layers/layer_normalization/vars/1", SAME),
]


def linear(hf: str, kh: str, kernel: Transform = TRANSPOSED, bias: Transform = SAME) -> Names:
    """A transformers Linear (`hf`.weight, `hf`.bias) <-> a keras_hub Dense at `kh` (vars/0, vars/1)."""
    return [(f"{hf}.weight", f"{kh}/vars/0", kernel), (f"{hf}.bias", f"{kh}/vars/1", bias)]


def norm(hf: str, kh: str) -> Names:
    """A transformers LayerNorm (weight, bias) <-> a keras_hub LayerNormalization (gamma, beta)."""
    return linear(hf, kh, SAME)


def encoder_layer(hf: str, kh: str, hf_layers: Mapping[str, str], kh_layers: Mapping[str, str],
                  heads: tuple[int, int] | None = None, output_from_heads: bool = True) -> Names:
    """One encoder layer's tensors, role by role (query, key, value, attention output and norm, feedforward).

    With `heads` (hidden size, head count) keras_hub stores query/key/value per head, and the attention output
    too unless `output_from_heads` is false; otherwise every kernel is a plain transposed matrix.
    """
    qkv_kernel, qkv_bias = (kernel_to_heads(*heads), bias_to_heads(*heads)) if heads else (TRANSPOSED, SAME)
    output_kernel = kernel_from_heads(*heads) if heads and output_from_heads else TRANSPOSED
    names: Names = []
    for part in ("query", "key", "value"):
        names += linear(f"{hf}.{hf_layers[part]}", f"{kh}/{kh_layers[part]}", qkv_kernel, qkv_bias)
    names += linear(f"{hf}.{hf_layers['attention_output']}", f"{kh}/{kh_layers['attention_output']}", output_kernel)
    names += norm(f"{hf}.{hf_layers['attention_norm']}", f"{kh}/{kh_layers['attention_norm']}")
    names += linear(f"{hf}.{hf_layers['intermediate']}", f"{kh}/{kh_layers['intermediate']}")
    names += linear(f"{hf}.{hf_layers['output']}", f"{kh}/{kh_layers['output']}")
    names += norm(f"{hf}.{hf_layers['output_norm']}", f"{kh}/{kh_layers['output_norm']}")
    return names
