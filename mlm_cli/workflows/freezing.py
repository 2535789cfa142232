"""`--freeze`: the parts of a backbone that keep their weights while the rest trains.

A spec is a comma-separated list of `embeddings` (every embedding table, its layer norm and
projection, and DeBERTa's relative-position embedding; the tied output projection of the
masked-LM head with them) and `layers:A-B` or `layers:N` (encoder layers, counted from 0).
Parsing needs no Keras, so `mlm train` refuses a bad spec before anything loads.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from mlm_cli.errors import BadInputError

EMBEDDING_LAYERS = ("token_embedding", "position_embedding", "segment_embedding", "embeddings_norm",
                    "embeddings_projection", "relative_embedding")
_LAYERS = re.compile(r"layers:(\d+)(?:-(\d+))?")
SPEC_HELP = "embeddings and/or layers:A-B (encoder layers from 0), comma-separated, e.g. embeddings,layers:0-5"


@dataclass(frozen=True)
class FreezeSpec:
    """What `--freeze` names: the embeddings, and encoder layer indices."""

    embeddings: bool = False
    layers: tuple[int, ...] = ()


def parse_freeze(text: str | None) -> FreezeSpec:
    """The spec of `--freeze TEXT`; ValueError naming the first item that is not one."""
    if not text:
        return FreezeSpec()
    embeddings, layers = False, set()
    for item in (part.strip() for part in text.split(",")):
        match = _LAYERS.fullmatch(item)
        if item == "embeddings":
            embeddings = True
        elif match and int(match[1]) <= int(match[2] or match[1]):
            layers.update(range(int(match[1]), int(match[2] or match[1]) + 1))
        else:
            raise ValueError(f"--freeze: {item!r} is not embeddings or layers:A-B ({SPEC_HELP})")
    return FreezeSpec(embeddings, tuple(sorted(layers)))


def freeze(backbone, spec: FreezeSpec) -> None:
    """Mark the named layers of `backbone` not trainable (before compiling); BadInputError where it lacks them."""
    if spec.embeddings:
        for name in EMBEDDING_LAYERS:
            layer = getattr(backbone, name, None)
            if layer is not None:
                layer.trainable = False
    if not spec.layers:
        return
    steps = layer_blocks(backbone)
    if spec.layers[-1] >= len(steps):
        raise BadInputError(f"--freeze layers:{spec.layers[-1]} is beyond this model's {len(steps)} encoder layers "
                            f"(0 to {len(steps) - 1})")
    frozen = {id(block) for index in spec.layers for block in steps[index]}
    kept = {id(block) for index, blocks in enumerate(steps) if index not in spec.layers for block in blocks}
    if frozen & kept:
        raise BadInputError("--freeze: some of these layers share their weights with layers left to train "
                            f"({len(backbone.encoder_blocks)} shared blocks for {len(steps)} layers); freeze all the "
                            "layers of a block")
    for index in spec.layers:
        for block in steps[index]:
            block.trainable = False


def layer_blocks(backbone) -> list[list]:
    """The encoder blocks each layer runs: one its own, or ALBERT's shared ones (`layer_blocks()` by step)."""
    if hasattr(backbone, "layer_blocks"):
        steps = backbone.layer_blocks()
        per_layer = len(steps) // backbone.num_layers
        return [steps[i * per_layer : (i + 1) * per_layer] for i in range(backbone.num_layers)]
    return [[block] for block in backbone.encoder_blocks]


def parameter_counts(model) -> tuple[int, int]:
    """(trainable, all) parameters of a model."""
    count = lambda variables: int(sum(math.prod(v.shape) for v in variables))  # noqa: E731
    return count(model.trainable_weights), count(model.weights)
