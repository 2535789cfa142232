"""The projections LoRA can adapt, by name, and where keras_hub numbers them in a `.lora.h5` file.

Keras-free, so `mlm train` checks `--lora-targets` before anything loads.

Names (one per projection of an encoder block): `query`, `key`, `value` (column blocks of
mlm's fused QKV projection), `attention_output`, `intermediate` and `feedforward_output`
(the two feed-forward layers). `all` is every one a block has; keras_hub's default is
query and value.

keras_hub's `save_lora_weights` names each adapted layer by its index among the backbone's
layers that hold weights (`_flatten_layers` order). `KERAS_HUB_NUMBERING` gives that index
per family, so an adapter file mlm writes is one keras_hub reads for the same model.
"""

from __future__ import annotations

from dataclasses import dataclass

TARGETS = ("query", "key", "value", "attention_output", "intermediate", "feedforward_output")
DEFAULT_TARGETS = ("query", "value")
ALL = "all"  # every target the model's blocks have
ATTENTION_TARGETS = ("query", "key", "value")
TARGETS_HELP = ("query, key, value, attention_output, intermediate, feedforward_output (comma-separated), or all "
                "(every one of them the model's blocks have)")
# keras_hub's layer names for each target, to pass as `enable_lora(rank, target_layer_names=...)`.
KERAS_HUB_LAYER_NAMES = {"query": ("query", "q_dense_layer"), "key": ("key", "k_dense_layer"),
                         "value": ("value", "v_dense_layer"), "attention_output": ("attention_output", "o_dense_layer"),
                         "intermediate": ("feedforward_intermediate_dense", "intermediate_dense"),
                         "feedforward_output": ("feedforward_output_dense", "output_dense")}


def parse_targets(text: str | None) -> tuple[str, ...]:
    """The target names of `--lora-targets TEXT` in TARGETS order ("all": every name); ValueError on an unknown one."""
    if not text:
        return DEFAULT_TARGETS
    names = [part.strip() for part in text.split(",") if part.strip()]
    if names == [ALL]:
        return TARGETS
    unknown = [name for name in names if name not in TARGETS]
    if unknown or not names:
        raise ValueError(f"unknown LoRA target {unknown[0] if unknown else text!r}; use {TARGETS_HELP}")
    return tuple(name for name in TARGETS if name in names)


@dataclass(frozen=True)
class KerasHubNumbering:
    """Where keras_hub's backbone of a family puts each block's projections among its layers with weights."""

    first_block: int  # index of encoder block 0
    block_stride: int  # layers with weights per block (the block itself and its sublayers)
    offsets: dict[str, int]  # target -> index within a block
    per_head_qkv: bool  # query/key/value adapters per head (EinsumDense [H, heads, d]) or plain ([H, H] Dense)
    per_head_output: bool  # attention output kernel stored [heads, d, H] (its A then [heads, d, rank])

    def index(self, block: int, target: str) -> int:
        return self.first_block + self.block_stride * block + self.offsets[target]


_TRANSFORMER_ENCODER = {"query": 9, "key": 8, "value": 7, "attention_output": 6, "intermediate": 2,
                        "feedforward_output": 1}
_DENSE_ATTENTION = {"query": 9, "key": 8, "value": 7, "attention_output": 6, "intermediate": 4,
                    "feedforward_output": 3}
KERAS_HUB_NUMBERING = {
    "bert": KerasHubNumbering(4, 10, _TRANSFORMER_ENCODER, True, True),
    "roberta": KerasHubNumbering(4, 10, _TRANSFORMER_ENCODER, True, True),
    "xlm_roberta": KerasHubNumbering(4, 10, _TRANSFORMER_ENCODER, True, True),
    "distil_bert": KerasHubNumbering(4, 10, _TRANSFORMER_ENCODER, True, True),
    "albert": KerasHubNumbering(5, 10, _TRANSFORMER_ENCODER, True, True),
    "deberta_v3": KerasHubNumbering(4, 10, _TRANSFORMER_ENCODER, True, False),
    "esm": KerasHubNumbering(1, 10, _DENSE_ATTENTION, False, False),
    "roformer_v2": KerasHubNumbering(3, 10, _DENSE_ATTENTION, False, False),
    "f_net": KerasHubNumbering(5, 5, {"intermediate": 2, "feedforward_output": 1}, False, False),
}
