"""keras_hub's MaskedLMHead in task.weights.h5, mapped onto mlm's masked-LM heads.

Every family whose head is keras_hub's MaskedLMHead (BERT, DistilBERT, RoBERTa, XLM-RoBERTa,
ALBERT, DeBERTaV3, FNet, ESM) stores it alike under `layers/masked_lm_head`: a dense
transform, a layer norm, then the output projection's own weights: the bias alone when the
projection is tied to the token embedding, or kernel and bias (ESM).
"""

from __future__ import annotations

import numpy as np

from mlm_cli.models.preset.variable_pairs import export_pairs, import_pairs

HEAD = "layers/masked_lm_head"


def shapes(inputs: int, width: int, vocabulary: int, projection: bool = False) -> dict[str, tuple[int, ...]]:
    """The head's datasets: dense `inputs` -> `width`, layer norm, and the output bias (with `projection`, the
    output kernel and bias)."""
    output = {f"{HEAD}/vars/0": (vocabulary,)}
    if projection:
        output = {f"{HEAD}/vars/0": (width, vocabulary), f"{HEAD}/vars/1": (vocabulary,)}
    return {
        f"{HEAD}/_intermediate_dense/vars/0": (inputs, width),
        f"{HEAD}/_intermediate_dense/vars/1": (width,),
        f"{HEAD}/_intermediate_layer_norm/vars/0": (width,),
        f"{HEAD}/_intermediate_layer_norm/vars/1": (width,),
        **output,
    }


def head_shapes(config: dict) -> dict[str, tuple[int, ...]]:
    """BERT's head for a backbone config: hidden -> hidden transform, output tied to the token embedding."""
    return shapes(config["hidden_dim"], config["hidden_dim"], config["vocabulary_size"])


def _pairs(head) -> list[tuple[str, object]]:
    """(keras_hub path, mlm variable); a head with its own projection (ESM's) has an `output_kernel`."""
    own = [head.output_kernel, head.output_bias] if hasattr(head, "output_kernel") else [head.output_bias]
    return [
        (f"{HEAD}/_intermediate_dense/vars/0", head.dense.kernel),
        (f"{HEAD}/_intermediate_dense/vars/1", head.dense.bias),
        (f"{HEAD}/_intermediate_layer_norm/vars/0", head.norm.gamma),
        (f"{HEAD}/_intermediate_layer_norm/vars/1", head.norm.beta),
        *((f"{HEAD}/vars/{index}", variable) for index, variable in enumerate(own)),
    ]


def export_head(head) -> dict[str, np.ndarray]:
    """The head's weights as keras_hub's task.weights.h5 datasets."""
    return export_pairs(_pairs(head))


def import_head(head, arrays: dict[str, np.ndarray]) -> None:
    """Assign keras_hub-layout head arrays (already shape-checked) to the head's variables."""
    import_pairs(_pairs(head), arrays)


def group_names() -> dict[str, str]:
    """The head's `vars` groups in task.weights.h5, with keras_hub's layer names."""
    return {
        f"{HEAD}/vars": "mlm_head",
        f"{HEAD}/_intermediate_dense/vars": "intermediate_dense",
        f"{HEAD}/_intermediate_layer_norm/vars": "intermediate_layer_norm",
    }
