"""keras_hub's `vars` groups in task.weights.h5: the task, its mask input, its head and its preprocessor layers.

Every family's task file has the same groups, in the same order; they differ in the task's
name, the index of the mask-positions input, the head's groups and whether the preprocessor
builds a mask generator and a segment packer.
"""

from __future__ import annotations

from mlm_cli.models.preset import masked_lm_head_layout

PACKER = "multi_segment_packer"


def task_group_names(
    family: str,
    *,
    task: str = "masked_lm",
    mask_input: str = "input_layer_2",
    head_groups: dict[str, str] | None = None,
    packer_name: str | None = PACKER,
) -> dict[str, str]:
    """The groups with their layer names, in keras_hub's order; `packer_name=None`: no masker and no packer layer.

    `head_groups` defaults to keras_hub's MaskedLMHead groups (masked_lm_head_layout.py).
    """
    names = {
        "vars": f"{family}_{task}",
        f"layers/{mask_input}/vars": "mask_positions",
        **(masked_lm_head_layout.group_names() if head_groups is None else head_groups),
        "preprocessor/vars": f"{family}_{task}_preprocessor",
    }
    if packer_name is not None:
        names["preprocessor/masker/vars"] = "masked_lm_mask_generator"
        names["preprocessor/packer/vars"] = packer_name
    names["preprocessor/tokenizer/vars"] = f"{family}_tokenizer"
    return names
