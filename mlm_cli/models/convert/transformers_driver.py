"""The steps every transformers converter shares; each family's module (transformers_<family>.py) supplies hooks.

Reading a checkpoint: config.json -> backbone config -> tokenizer and backbone -> tensors in keras_hub's layout
(shapes checked against the family's weights layout) -> a masked LM with a preprocessor. Writing one: the
family's weights layout exports keras_hub-layout arrays -> transformers tensors and config -> config.json,
model.safetensors and the tokenizer files. The family's classes and weights layout come from the registry.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlm_cli.errors import PresetError
from mlm_cli.models.convert.safetensors_io import read_checkpoint_tensors, write_transformers_weights
from mlm_cli.models.convert.weight_transforms import Transform
from mlm_cli.models.preset.directory import PresetDirectory
from mlm_cli.models.preset.registry import FAMILIES, Family

log = logging.getLogger("mlm")

Arrays = dict[str, np.ndarray]
Names = list[tuple[str, str, Transform]]  # (transformers name, keras_hub path, transform)


class CheckpointTensors:
    """A checkpoint's tensors (base-model prefix dropped, TF-era LayerNorm names mapped), converted name list by
    name list into keras_hub arrays whose shapes must match the family's weights layout for the config."""

    def __init__(self, tensors: Mapping[str, np.ndarray], prefix: str, expected: Mapping[str, tuple[int, ...]],
                 source: str):
        self.tensors = {_normalised_name(name, prefix): array for name, array in tensors.items()}
        self.expected = expected
        self.source = source

    def __contains__(self, name: str) -> bool:
        return name in self.tensors

    def get(self, name: str) -> np.ndarray | None:
        return self.tensors.get(name)

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self.tensors:
            raise PresetError(f"{self.source}: tensor {name!r} is missing")
        return self.tensors[name]

    def convert(self, names: Names, optional: tuple[str, ...] = ()) -> Arrays:
        """keras_hub arrays for `names`; a name in `optional` may be absent (the model keeps its initialised weight)."""
        arrays = {}
        for hf_name, kh_name, (forward, _) in names:
            if hf_name in optional and hf_name not in self.tensors:
                continue
            tensor = self[hf_name]
            try:
                array = np.asarray(forward(tensor.astype(np.float32, copy=False)))
            except ValueError:  # a reshape that does not fit
                array = None
            if array is None or array.shape != tuple(self.expected[kh_name]):
                raise PresetError(
                    f"{self.source}: tensor {hf_name!r} has shape {tensor.shape}, which does not fit the config"
                )
            arrays[kh_name] = array
        return arrays

    def convert_head(self, names: Names) -> Arrays | None:
        """The masked-LM head's arrays, or None when the checkpoint has no head (a bare base model)."""
        return self.convert(names) if all(name in self.tensors for name, _, _ in names) else None

    def require_tied(self, head: Arrays | None, decoder: str, embeddings: str, message: str) -> None:
        """Refuse a stored decoder that differs from the word embeddings when there is a head (`message` says why)."""
        projection = self.tensors.get(decoder)
        if head is not None and projection is not None and not np.array_equal(projection, self.tensors[embeddings]):
            raise PresetError(f"{self.source}: {message}")


def _normalised_name(name: str, prefix: str) -> str:
    """`name` without the base model's prefix, TF-era LayerNorm gamma/beta named weight/bias."""
    name = name.removeprefix(prefix)
    if ".LayerNorm.gamma" in name or ".LayerNorm.beta" in name:
        name = name.replace(".LayerNorm.gamma", ".LayerNorm.weight").replace(".LayerNorm.beta", ".LayerNorm.bias")
    return name


# transformers' BERT-style config keys for mlm's encoder sizes (BERT, RoBERTa, XLM-R, ALBERT, DeBERTa-v2, ESM).
SIZE_KEYS = {
    "vocabulary_size": "vocab_size",
    "hidden_dim": "hidden_size",
    "num_layers": "num_hidden_layers",
    "num_heads": "num_attention_heads",
    "intermediate_dim": "intermediate_size",
}


def encoder_sizes(hf_config: Mapping[str, Any]) -> dict[str, int]:
    """mlm's encoder sizes from a BERT-style transformers config (KeyError, TypeError or ValueError if one is bad)."""
    return {ours: int(hf_config[theirs]) for ours, theirs in SIZE_KEYS.items()}


def transformers_sizes(config: Mapping[str, Any]) -> dict[str, int]:
    """A BERT-style transformers config's size keys for an mlm backbone config."""
    return {theirs: config[ours] for ours, theirs in SIZE_KEYS.items()}


def transformers_tensors(names: Names, arrays: Arrays, prefix: str = "") -> Arrays:
    """transformers tensors (named with `prefix`) from keras_hub arrays, for every entry of `names`."""
    return {prefix + hf: np.ascontiguousarray(backward(arrays[kh])) for hf, kh, (_, backward) in names}


def head_names(dense: str, norm: str, bias: str, bias_path: str = "layers/masked_lm_head/vars/0") -> Names:
    """A masked-LM head's transformers names: its dense transform and layer norm (prefixes), and its output bias."""
    from mlm_cli.models.convert.weight_transforms import SAME, TRANSPOSED

    return [
        (f"{dense}.weight", "layers/masked_lm_head/_intermediate_dense/vars/0", TRANSPOSED),
        (f"{dense}.bias", "layers/masked_lm_head/_intermediate_dense/vars/1", SAME),
        (f"{norm}.weight", "layers/masked_lm_head/_intermediate_layer_norm/vars/0", SAME),
        (f"{norm}.bias", "layers/masked_lm_head/_intermediate_layer_norm/vars/1", SAME),
        (bias, bias_path, SAME),
    ]


def write_tokenizer_config(directory: Path, tokenizer_config: dict[str, Any], special_tokens: dict[str, Any]) -> None:
    """tokenizer_config.json and special_tokens_map.json, as transformers' AutoTokenizer reads them."""
    (directory / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2), encoding="utf-8")
    (directory / "special_tokens_map.json").write_text(json.dumps(special_tokens, indent=2), encoding="utf-8")


def warn_head_epsilon(backbone, epsilon: float, name: str) -> None:
    """Warn when the head normalises with keras_hub's epsilon rather than transformers' `epsilon`."""
    if backbone.head_layer_norm_epsilon != epsilon:
        log.warning(
            "this model uses keras_hub's head layer-norm epsilon %g; transformers' %s uses %g, "
            "so its masked-LM logits differ slightly",
            backbone.head_layer_norm_epsilon, name, epsilon,
        )


def from_config_json(
    backbone_config: Callable[[dict[str, Any], str], dict[str, Any]],
) -> Callable[[dict[str, Any], PresetDirectory], dict[str, Any]]:
    """The `backbone_config` hook of a family whose backbone depends on config.json alone.

    `backbone_config(hf_config, path)` names the checkpoint's config.json by `path` in its messages.
    """
    return lambda hf_config, source: backbone_config(hf_config, str(source.path("config.json")))


def _no_check(model) -> None:
    """No family-specific check before export."""


def _default_sequence_length(config: dict[str, Any], source: PresetDirectory) -> int:
    return min(512, config["max_sequence_length"])


@dataclass(frozen=True)
class TransformersConverter:
    """One family's hooks into the shared conversion steps (`model_from_checkpoint`, `write_checkpoint`)."""

    family: str  # the registry's name for the family
    name: str  # how messages name the family ("BERT")
    prefix: str  # the base model's tensor prefix in *ForMaskedLM checkpoints ("bert.")
    base_model: str  # transformers' headless class, named when a checkpoint has no masked-LM head
    backbone_config: Callable[[dict[str, Any], PresetDirectory], dict[str, Any]]  # (config.json, checkpoint) -> kwargs
    tokenizer: Callable[[PresetDirectory, dict[str, Any]], Any]  # (checkpoint, backbone config) -> tokenizer
    to_keras_hub: Callable[[CheckpointTensors, dict[str, Any], dict[str, Any]], tuple[Arrays, Arrays | None]]
    to_transformers: Callable[[Any, Arrays, Arrays, str], tuple[Arrays, dict[str, Any]]]  # -> (tensors, config.json)
    write_tokenizer: Callable[[Any, Path], None]  # (model, directory)
    check_export: Callable[[Any], None] = _no_check  # warnings or errors before anything is written
    sequence_length: Callable[[dict[str, Any], PresetDirectory], int] = _default_sequence_length
    tokenizer_must_fit: bool = False  # a tokenizer larger than the model is an error (else differing sizes warn)
    tied_head: bool = True  # a fresh head projects with the token embeddings

    @property
    def registry(self) -> Family:
        return FAMILIES[self.family]

    def model_from_checkpoint(self, source: PresetDirectory):
        """The family's masked LM equivalent to the transformers checkpoint in `source`."""
        family, weights = self.registry, self.registry.weights()
        config_path = str(source.path("config.json"))
        hf_config = source.read_json("config.json")
        config = self.backbone_config(hf_config, source)
        tokenizer = self.tokenizer(source, config)
        try:  # validates every size before any tensor is read or allocated
            backbone = family.mlm_class(family.backbone)(**config)
        except (TypeError, ValueError) as error:
            raise PresetError(f"{config_path}: invalid {self.name} config ({error})") from None
        sequence_length = self.sequence_length(config, source)
        self._check_vocabulary(tokenizer, config, source)
        expected = {**weights.backbone_shapes(config), **weights.head_shapes(config)}
        tensors = CheckpointTensors(read_checkpoint_tensors(source), self.prefix, expected, str(source.root))
        backbone_arrays, head_arrays = self.to_keras_hub(tensors, config, hf_config)
        weights.import_backbone(backbone, backbone_arrays)
        preprocessor = family.mlm_class(family.preprocessor)(tokenizer, sequence_length=sequence_length)
        model = family.mlm_class(family.masked_lm)(backbone, preprocessor=preprocessor)
        if head_arrays is None:
            tied = ", tied to the token embeddings" if self.tied_head else ""
            log.warning("%s has no masked-LM head (%s): the head is freshly initialised%s",
                        source.root.name, ",".join(hf_config.get("architectures") or [self.base_model]), tied)
        else:
            weights.import_head(model.masked_lm_head, head_arrays)
        return model

    def _check_vocabulary(self, tokenizer, config: dict[str, Any], source: PresetDirectory) -> None:
        size, model_size = tokenizer.vocabulary_size(), config["vocabulary_size"]
        if self.tokenizer_must_fit and size > model_size:
            raise PresetError(f"{source.root}: the tokenizer has {size} tokens but the model only {model_size}")
        if not self.tokenizer_must_fit and size != model_size:
            log.warning("%s: vocabulary has %d tokens, the model %d", source.root, size, model_size)

    def write_checkpoint(self, model, directory: Path, dtype: str = "float32") -> None:
        """Write the family's transformers *ForMaskedLM checkpoint (config, safetensors, tokenizer files)."""
        weights = self.registry.weights()
        self.check_export(model)
        backbone_arrays = weights.export_backbone(model.backbone)
        head_arrays = weights.export_head(model.masked_lm_head)
        tensors, hf_config = self.to_transformers(model, backbone_arrays, head_arrays, dtype)
        write_transformers_weights(directory, tensors, hf_config, dtype)
        self.write_tokenizer(model, directory)
