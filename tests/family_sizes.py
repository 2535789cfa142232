"""Each family's tiny backbone size, declared once: the keyword arguments (beside `vocabulary_size`) that its model
tests, interop tests and the model-parallel check build from. A test that needs another shape states only the change."""

from __future__ import annotations

from typing import Any

ENCODER: dict[str, Any] = dict(num_layers=2, num_heads=2, hidden_dim=16, intermediate_dim=32)
TINY_SIZES: dict[str, dict[str, Any]] = {
    "bert": dict(ENCODER, max_sequence_length=32),
    "distil_bert": dict(ENCODER, max_sequence_length=32),
    "roberta": dict(ENCODER, max_sequence_length=32),
    "xlm_roberta": dict(ENCODER, max_sequence_length=32),
    "albert": dict(ENCODER, num_groups=1, num_inner_repetitions=1, embedding_dim=8, max_sequence_length=32),
    "deberta_v3": dict(ENCODER, max_sequence_length=32, bucket_size=8),
    "f_net": dict(num_layers=2, hidden_dim=16, intermediate_dim=32, max_sequence_length=32),
    "roformer_v2": dict(ENCODER, head_size=8),
    "esm": dict(ENCODER),
}


def tiny_sizes(family: str, **changes: Any) -> dict[str, Any]:
    """A copy of `family`'s tiny size with `changes` applied."""
    return {**TINY_SIZES[family], **changes}


# Sizes every backbone refuses before allocating (a ValueError), each a change to the family's tiny size.
BAD_SIZES: list[dict[str, Any]] = [
    {"vocabulary_size": 10**12}, {"hidden_dim": 10**9}, {"num_layers": 0}, {"max_sequence_length": "512"},
    {"dropout": 1.5},
]
BAD_ATTENTION_SIZES = [{"num_heads": 3}]  # heads that do not divide hidden_dim 16 (not FNet: it has no heads)
BAD_HEAD_EPSILONS = [{"head_layer_norm_epsilon": 0.0}]  # families whose head epsilon is a backbone setting
